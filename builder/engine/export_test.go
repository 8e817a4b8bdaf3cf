package engine

import "time"

// SetCacheWaitNote makes a build waiting for a package cache say so every
// d; the returned func restores the default.
func SetCacheWaitNote(d time.Duration) (restore func()) {
	old := cacheWaitNote
	cacheWaitNote = d
	return func() { cacheWaitNote = old }
}

// AdoptedSteps is how many steps this process has moved into their
// build's control group so far.
func AdoptedSteps() int { return adoptedSteps() }
