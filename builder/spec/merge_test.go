package spec

import (
	"slices"
	"testing"

	"imagebuilder/db"
)

// Apply mine on top: what only one side changed is taken from that side;
// lists take both sides' added and removed lines; what both changed keeps
// mine and is named.
func TestMerge(t *testing.T) {
	base := db.ImageSpec{Name: "s", BaseImage: "debian:12", APT: []string{"jq", "curl"}, Pip: []string{"requests"}}
	for _, c := range []struct {
		name         string
		theirs, mine db.ImageSpec
		want         db.ImageSpec
		both         []string
	}{
		{"they added a pull secret, I added a pip line",
			with(base, func(s *db.ImageSpec) { s.PullSecret = "team" }),
			with(base, func(s *db.ImageSpec) { s.Pip = []string{"requests", "numpy"} }),
			with(base, func(s *db.ImageSpec) { s.PullSecret = "team"; s.Pip = []string{"requests", "numpy"} }), nil},
		{"both edited APT: their addition and my removal",
			with(base, func(s *db.ImageSpec) { s.APT = []string{"jq", "curl", "git"} }),
			with(base, func(s *db.ImageSpec) { s.APT = []string{"jq"} }),
			with(base, func(s *db.ImageSpec) { s.APT = []string{"jq", "git"} }), []string{ListAPT}},
		{"both changed the base image: mine is kept",
			with(base, func(s *db.ImageSpec) { s.BaseImage = "debian:13" }),
			with(base, func(s *db.ImageSpec) { s.BaseImage = "ubuntu:24.04" }),
			with(base, func(s *db.ImageSpec) { s.BaseImage = "ubuntu:24.04" }), []string{FieldBaseImage}},
		{"both added the same line: once",
			with(base, func(s *db.ImageSpec) { s.APT = []string{"jq", "curl", "git"} }),
			with(base, func(s *db.ImageSpec) { s.APT = []string{"jq", "curl", "git"} }),
			with(base, func(s *db.ImageSpec) { s.APT = []string{"jq", "curl", "git"} }), nil},
		{"I changed nothing: theirs",
			with(base, func(s *db.ImageSpec) { s.Conda = []string{"numpy"} }), base,
			with(base, func(s *db.ImageSpec) { s.Conda = []string{"numpy"} }), nil},
	} {
		got, both := Merge(base, c.theirs, c.mine)
		if got.Version() != c.want.Version() || !slices.Equal(both, c.both) {
			t.Errorf("%s:\n got %+v %v\nwant %+v %v", c.name, got, both, c.want, c.both)
		}
	}
}

func with(s db.ImageSpec, f func(*db.ImageSpec)) db.ImageSpec {
	s.APT, s.Conda, s.Pip = slices.Clone(s.APT), slices.Clone(s.Conda), slices.Clone(s.Pip)
	f(&s)
	return s
}
