package executor

import (
	"fmt"
	"strings"
	"syscall"

	"github.com/docker/go-units"
)

// ByteSize is a flag value of bytes with an optional binary unit: 2GiB, 512MiB,
// 1024.
type ByteSize uint64

func (b *ByteSize) String() string { return HumanBytes(uint64(*b)) }

func (b *ByteSize) Set(v string) error {
	// The same parser as the Build settings page's memory limit.
	n, err := units.RAMInBytes(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size such as 2GiB, 512MiB or 1024", v)
	}
	*b = ByteSize(n)
	return nil
}

// DefaultBuildMemory is half of this machine's memory: a build over it
// fails as out of memory before it can take the server down.
func DefaultBuildMemory() uint64 {
	var info syscall.Sysinfo_t
	if syscall.Sysinfo(&info) != nil {
		return 0
	}
	return uint64(info.Totalram) * uint64(info.Unit) / 2
}
