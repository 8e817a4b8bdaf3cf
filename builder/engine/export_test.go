package engine

import "time"

// SetCacheWaitNote makes a build waiting for a package cache say so every
// d; the returned func restores the default.
func SetCacheWaitNote(d time.Duration) (restore func()) {
	old := cacheWaitNote
	cacheWaitNote = d
	return func() { cacheWaitNote = old }
}
