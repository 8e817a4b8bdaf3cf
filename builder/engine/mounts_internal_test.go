package engine

import "testing"

func TestLowerDirMatching(t *testing.T) {
	m := mountEntry{Point: "/data/tmp/buildah-context-1/overlay/2/merge",
		Options: "rw,lowerdir=/data/run/build-3555:/data/storage/overlay/l/ABC,upperdir=/data/tmp/buildah-context-1/overlay/2/upper"}
	if !usesLower(m, below("/data/run/build-3555")) || usesLower(m, below("/data/run/build-35")) {
		t.Fatal("below matches by path component")
	}
	if !usesLower(m, func(l string) bool { return len(l) > 15 && l[:15] == "/data/run/build" }) {
		t.Fatal("a prefix match finds the build context")
	}
	if !within(m.Point, "/data/tmp") || within("/data/tmpx/a", "/data/tmp") {
		t.Fatal("within")
	}
	if got := unescapeMount(`/a\040b`); got != "/a b" {
		t.Fatalf("unescape: %q", got)
	}
}

// The start-up sweep takes only what builds mount, never an
// administrator's own mounts on or inside the data directory.
func TestSweepTakesOnlyWhatBuildsMount(t *testing.T) {
	e := &Engine{dataDir: "/data", scratchDir: "/data/tmp", runDir: "/data/run"}
	for m, want := range map[mountEntry]bool{
		{Point: "/data", Root: "/", Type: "tmpfs"}:                                                      false,
		{Point: "/data/logs", Root: "/", Type: "tmpfs"}:                                                 false,
		{Point: "/data/storage", Root: "/", Type: "ext4"}:                                               false,
		{Point: "/data/storage/overlay", Root: "/data/storage/overlay", Type: "ext4"}:                   true,
		{Point: "/data/storage/overlay/abc/merged", Root: "/", Type: "overlay", Options: "lowerdir=/x"}: true,
		{Point: "/data/tmp", Root: "/", Type: "tmpfs"}:                                                  false,
		{Point: "/data/tmp/buildah-context-1/overlay/2/merge", Root: "/", Type: "overlay"}:              true,
		{Point: "/elsewhere/merge", Root: "/", Type: "overlay", Options: "lowerdir=/data/run/build-1"}:  true,
		{Point: "/elsewhere/merge", Root: "/", Type: "overlay", Options: "lowerdir=/other/run/build-1"}: false,
	} {
		if got := e.leftByBuilds(m); got != want {
			t.Errorf("%+v: %v, want %v", m, got, want)
		}
	}
}
