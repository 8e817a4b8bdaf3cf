package spec

import (
	"slices"

	"imagebuilder/db/imagespec"
)

// Merge applies the changes mine made to base on top of theirs, another
// edit of the same base saved first: a field mine left as it was takes
// theirs; a field mine changed takes mine; a package list takes theirs
// without the lines mine removed and with the lines mine added. Both lists
// the fields that both edits changed (mine is kept there for scalars).
func Merge(base, theirs, mine imagespec.Spec) (merged imagespec.Spec, both []string) {
	merged = theirs
	pick := func(field string, b, t, m string) string {
		switch {
		case m == b:
			return t
		case t != b && t != m:
			both = append(both, field)
		}
		return m
	}
	merged.BaseImage = pick(FieldBaseImage, base.BaseImage, theirs.BaseImage, mine.BaseImage)
	merged.PullSecret = pick(FieldPullSecret, base.PullSecret, theirs.PullSecret, mine.PullSecret)
	lists := []struct {
		field         string
		b, t, m, into *[]string
	}{
		{ListAPT, &base.APT, &theirs.APT, &mine.APT, &merged.APT},
		{ListConda, &base.Conda, &theirs.Conda, &mine.Conda, &merged.Conda},
		{ListPip, &base.Pip, &theirs.Pip, &mine.Pip, &merged.Pip},
	}
	for _, l := range lists {
		*l.into = mergeLines(*l.b, *l.t, *l.m)
		if !slices.Equal(*l.t, *l.b) && !slices.Equal(*l.m, *l.b) && !slices.Equal(*l.t, *l.m) {
			both = append(both, l.field)
		}
	}
	return merged, both
}

// mergeLines is theirs without the lines mine removed from base, then the
// lines mine added to base that theirs does not hold already.
func mergeLines(base, theirs, mine []string) []string {
	var out []string
	for _, l := range theirs {
		if slices.Contains(base, l) && !slices.Contains(mine, l) {
			continue
		}
		out = append(out, l)
	}
	for _, l := range mine {
		if !slices.Contains(base, l) && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}
