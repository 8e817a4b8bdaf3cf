// Package disk answers how much room a file system has and how much a
// directory holds, for the builds' free-space floor, the Storage page and
// the metrics. It knows nothing of builds.
package disk

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
)

// FreeSpace is the free and total bytes of the file system holding path.
func FreeSpace(path string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("free space of %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}

// TreeBytes is what the regular files under dir take (missing: 0).
func TreeBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
