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
