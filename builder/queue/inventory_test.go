package queue

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"imagebuilder/builder/engine"
	"imagebuilder/builder/engine/enginetest"
	"imagebuilder/builder/inventory"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/registry/images"
	"imagebuilder/db"
)

// dpkgQuery is what dpkg-query lists inside image: "name:arch=version"
// per installed package, from a build step that runs it there.
func dpkgQuery(t *testing.T, r *enginetest.Rig, image string) []string {
	t.Helper()
	var log strings.Builder
	cf := "FROM " + image + "\n" + `RUN ["dpkg-query","-W","-f=pkg ${db:Status-Status} ${Package}:${Architecture}=${Version}\n"]` + "\n"
	if _, err := r.Engine.BuildContainerfile(context.Background(), engine.ContainerfileBuild{Containerfile: cf, Target: "localhost/dpkg-query:" + strings.ReplaceAll(image[strings.LastIndex(image, "/")+1:], ":", "-"),
		Log: &log, NoCache: true}); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^pkg installed (\S+=\S+)$`).FindAllStringSubmatch(log.String(), -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Fatalf("dpkg-query listed nothing:\n%s", log.String())
	}
	slices.Sort(out)
	return out
}

// debs is an inventory's Debian packages as dpkgQuery writes them.
func debs(pkgs []db.Package) []string {
	var out []string
	for _, p := range pkgs {
		if p.Type == inventory.TypeDeb {
			out = append(out, p.Name+":"+p.Arch+"="+p.Version)
		}
	}
	slices.Sort(out)
	return out
}

func getInventory(t *testing.T, store *db.DB, id int64) db.Inventory {
	t.Helper()
	inv, ok, err := store.GetInventory(context.Background(), id)
	if err != nil || !ok {
		t.Fatalf("job %d has no inventory (%v)", id, err)
	}
	return inv
}

func TestDebianInventoryDiffAndPinnedRebuild(t *testing.T) {
	r := enginetest.Get(t)
	q, store := newTestQueue(t, r, 10*time.Minute, func(c *Config) { c.Reuse, c.Inventory = r.Images, r.Images })
	ctx := context.Background()
	s := db.ImageSpec{Name: "inv-debian", BaseImage: r.Debian(t), APT: []string{"jq"}}
	_, j1, err := q.Create(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	j1 = waitJob(t, store, j1.ID, db.StatusSucceeded, db.StatusFailed)
	if j1.Status != db.StatusSucceeded {
		t.Fatalf("revision 1: %+v\n%s", j1, logText(t, q, j1.ID))
	}
	inv1 := getInventory(t, store, j1.ID)
	if !inv1.OK || inv1.DistroID != "debian" || inv1.DistroVersion != "12" || inv1.AgainstJob != 0 {
		t.Fatalf("inventory 1: %+v", inv1)
	}
	// The inventory is what dpkg-query says inside the image: jq, its
	// libraries, and the base's packages, at the same versions.
	want1 := dpkgQuery(t, r, j1.Image)
	if got := debs(inv1.Packages); !slices.Equal(got, want1) {
		t.Fatalf("inventory of revision 1\n%v\ndpkg-query in the image\n%v", got, want1)
	}
	if !slices.ContainsFunc(want1, func(s string) bool { return strings.HasPrefix(s, "jq:") }) ||
		!slices.ContainsFunc(want1, func(s string) bool { return strings.HasPrefix(s, "libjq1:") }) {
		t.Fatalf("jq or its library is missing: %v", want1)
	}
	if l := logText(t, q, j1.ID); !strings.Contains(l, "Image Builder: the image holds ") {
		t.Errorf("the log does not say what the image holds:\n%s", l)
	}

	// One more APT line: the diff is that package and its new dependencies.
	s.APT = []string{"jq", "file"}
	_, j2, err := q.Update(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	j2 = waitJob(t, store, j2.ID, db.StatusSucceeded, db.StatusFailed)
	if j2.Status != db.StatusSucceeded {
		t.Fatalf("revision 2: %+v\n%s", j2, logText(t, q, j2.ID))
	}
	inv2 := getInventory(t, store, j2.ID)
	want2 := dpkgQuery(t, r, j2.Image)
	var added []string
	for _, p := range want2 {
		if !slices.Contains(want1, p) {
			added = append(added, p)
		}
	}
	d := inventory.Compare(inv1.Packages, inv2.Packages)
	if got := debs(d.Added); !slices.Equal(got, added) || len(d.Removed) != 0 || len(d.Changed) != 0 ||
		!slices.ContainsFunc(added, func(s string) bool { return strings.HasPrefix(s, "file:") }) || len(added) < 2 {
		t.Fatalf("diff %+v, want added %v and nothing else", d, added)
	}
	if inv2.AgainstJob != j1.ID || inv2.AgainstRevision != 1 || inv2.Added != len(added) || inv2.Removed != 0 || inv2.Changed != 0 {
		t.Fatalf("recorded diff: %+v", inv2)
	}

	// Revision 1 pinned rebuilds to the same inventory.
	if !strings.HasPrefix(j1.BaseDigest, "sha256:") {
		t.Fatalf("revision 1 has no base digest: %+v", j1)
	}
	pinned := inventory.Pin(j1.Snapshot, j1.BaseDigest, inv1.Packages)
	var jq db.Package
	for _, p := range inv1.Packages {
		if p.Name == "jq" {
			jq = p
		}
	}
	if !slices.Equal(pinned.Spec.APT, []string{"jq=" + jq.Version}) || pinned.Spec.BaseImage != s.BaseImage+"@"+j1.BaseDigest || len(pinned.Unpinned) != 0 {
		t.Fatalf("pinned: %+v", pinned)
	}
	_, j3, err := q.Update(ctx, pinned.Spec)
	if err != nil {
		t.Fatal(err)
	}
	j3 = waitJob(t, store, j3.ID, db.StatusSucceeded, db.StatusFailed)
	if j3.Status != db.StatusSucceeded {
		t.Fatalf("pinned rebuild: %+v\n%s", j3, logText(t, q, j3.ID))
	}
	if j3.BaseDigest != j1.BaseDigest {
		t.Errorf("the pinned base %s resolved to %q, want %s", pinned.Spec.BaseImage, j3.BaseDigest, j1.BaseDigest)
	}
	inv3 := getInventory(t, store, j3.ID)
	if d := inventory.Compare(inv1.Packages, inv3.Packages); !d.Empty() {
		t.Fatalf("the pinned rebuild differs from revision 1: %+v", d)
	}
}

func TestPythonAndCondaInventoryIsCopiedWhenReused(t *testing.T) {
	r := enginetest.Get(t)
	q, store := newTestQueue(t, r, 5*time.Minute, func(c *Config) { c.Reuse, c.Inventory = r.Images, r.Images })
	ctx := context.Background()
	base := r.Derived(t, "FROM "+r.Busybox(t)+"\n"+
		`RUN ["/bin/sh","-c","mkdir -p /usr/local/lib/python3.11/site-packages/Demo_Pkg-1.2.dist-info /opt/conda/conda-meta && `+
		`printf 'Metadata-Version: 2.1\\nName: Demo_Pkg\\nVersion: 1.2\\n\\nA demo.\\n' > /usr/local/lib/python3.11/site-packages/Demo_Pkg-1.2.dist-info/METADATA && `+
		`printf '{\"name\":\"numpy\",\"version\":\"1.26.4\",\"build\":\"py311h64a7726_0\",\"channel\":\"https://conda.anaconda.org/conda-forge/linux-64\",\"subdir\":\"linux-64\"}' > /opt/conda/conda-meta/numpy-1.26.4-py311h64a7726_0.json"]`+"\n",
		r.Target.Host+"/library/py-conda-meta:1")
	s := db.ImageSpec{Name: "inv-python-conda", BaseImage: base}
	_, j1, err := q.Create(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	j1 = waitJob(t, store, j1.ID, db.StatusSucceeded, db.StatusFailed)
	inv1 := getInventory(t, store, j1.ID)
	want := []db.Package{
		{Type: inventory.TypePython, Name: "Demo_Pkg", Version: "1.2", Location: "/usr/local/lib/python3.11/site-packages/Demo_Pkg-1.2.dist-info"},
		{Type: inventory.TypeConda, Name: "numpy", Version: "1.26.4", Build: "py311h64a7726_0", Channel: "conda-forge", Arch: "linux-64", Location: "/opt/conda/conda-meta/numpy-1.26.4-py311h64a7726_0.json"},
	}
	if !inv1.OK || !slices.Equal(inv1.Packages, want) {
		t.Fatalf("inventory %+v, want %+v\n%s", inv1, want, logText(t, q, j1.ID))
	}
	_, j2, err := q.Update(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	j2 = waitJob(t, store, j2.ID, db.StatusSucceeded, db.StatusFailed)
	inv2 := getInventory(t, store, j2.ID)
	if j2.ReusedFrom != j1.ID || inv2.CopiedFrom != j1.ID || !slices.Equal(inv2.Packages, want) {
		t.Fatalf("reused revision: %+v %+v", j2, inv2)
	}
	if inv2.AgainstJob != j1.ID || inv2.Added+inv2.Removed+inv2.Changed != 0 {
		t.Fatalf("an identical image differs: %+v", inv2)
	}
}

// deadRegistryInventory reads images through a registry address that
// refuses connections, as a registry gone after the push would.
type deadRegistryInventory struct {
	c    *images.Client
	dead string
}

func (d deadRegistryInventory) Inventory(ctx context.Context, reg registry.Target, ref string) (inventory.Inventory, error) {
	_, rest, _ := strings.Cut(ref, "/")
	return d.c.Inventory(ctx, registry.Target{Host: d.dead, Insecure: true}, d.dead+"/"+rest)
}

func TestAFailedInventoryDoesNotFailTheBuild(t *testing.T) {
	r := enginetest.Get(t)
	dead := freeAddr(t)
	q, store := newTestQueue(t, r, 5*time.Minute, func(c *Config) {
		c.Inventory = deadRegistryInventory{c: r.Images, dead: dead}
	})
	_, j, err := q.Create(context.Background(), db.ImageSpec{Name: "inv-missing", BaseImage: r.Busybox(t)})
	if err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, store, j.ID, db.StatusSucceeded, db.StatusFailed)
	inv, ok, err := store.GetInventory(context.Background(), j.ID)
	if j.Status != db.StatusSucceeded || err != nil || !ok || inv.OK || !strings.Contains(inv.Error, "connection refused") {
		t.Fatalf("job %+v inventory %+v (%v)", j, inv, err)
	}
	if l := logText(t, q, j.ID); !strings.Contains(l, "package inventory could not be read") {
		t.Errorf("the log does not say the inventory is missing:\n%s", l)
	}
}
