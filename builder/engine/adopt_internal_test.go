package engine

import "testing"

// Only the mount namespace Buildah's chroot runtime made for a step has
// the step's root with /dev bound under it; the host's namespace, where
// every build's root is mounted too, does not.
func TestAStepIsKnownByItsRootWithDevBoundUnderIt(t *testing.T) {
	const (
		host = `22 1 0:21 / / rw,relatime - ext4 /dev/sda1 rw
30 22 0:40 / /var/lib/ib/storage/overlay/aaa/merged rw,relatime - overlay overlay rw,lowerdir=/var/lib/ib/storage/overlay/l/X,upperdir=/var/lib/ib/storage/overlay/aaa/diff,workdir=/var/lib/ib/storage/overlay/aaa/work
31 22 0:41 / /var/lib/ib/storage/overlay/bbb/merged rw,relatime - overlay overlay rw,lowerdir=/var/lib/ib/storage/overlay/l/Y,upperdir=/var/lib/ib/storage/overlay/bbb/diff,workdir=/var/lib/ib/storage/overlay/bbb/work
`
		step = host + `40 30 0:5 / /var/lib/ib/storage/overlay/aaa/merged/dev ro,nosuid,noexec - devtmpfs udev rw
41 30 0:22 / /var/lib/ib/storage/overlay/aaa/merged/proc ro,nosuid,nodev,noexec - proc proc rw
`
	)
	a := []string{"upperdir=/var/lib/ib/storage/overlay/aaa/diff,"}
	b := []string{"upperdir=/var/lib/ib/storage/overlay/bbb/diff,"}
	for _, tc := range []struct {
		name      string
		mountinfo string
		uppers    []string
		want      bool
	}{
		{"the step of build a", step, a, true},
		{"not a step of build b", step, b, false},
		{"the host's namespace", host, a, false},
		{"no build", step, nil, false},
	} {
		if got := stepRootMounted([]byte(tc.mountinfo), tc.uppers); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
