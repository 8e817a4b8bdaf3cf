package views

// The models of the Storage page and its housekeeping.

// StoragePage is the data directory's free space.
type StoragePage struct {
	Layout
	DataDir, Free, Total, MinFree string
	// Low is true when builds are refused for lack of space.
	Low bool
	// ShowCaches shows the package caches (in-process builds only).
	ShowCaches    bool
	Caches        []CacheRow
	CacheMax      string
	CachesMessage string
	CachesCleared bool
	// Usage is what each part of the data directory takes.
	Usage []UsageRow
	// Largest are the specs whose images take the most.
	Largest []UsageRow
	// Retention is the global default retention form.
	Retention RetentionForm
	// Runs are the latest housekeeping runs; RanNow the result of the
	// button.
	Runs   []HousekeepingRow
	RanNow string
	// Schedule is how often housekeeping and the base-image check run.
	Schedule ScheduleForm
}

// ScheduleForm is the schedule being edited: intervals such as 1h or 30m,
// 0 for "only from the button".
type ScheduleForm struct {
	HousekeepingEvery, BaseCheckEvery string
	DeleteExternalTags                bool
	// ExternalRegistry is the external push registry's host ("": builds
	// push to the embedded registry).
	ExternalRegistry string
	Saved            bool
	Errors           map[string][]string
}

// UsageRow is a named size.
type UsageRow struct {
	Name, Size, Detail string
}

// RetentionForm is a retention policy being edited: whole numbers, 0 or
// empty keeping everything.
type RetentionForm struct {
	KeepSucceeded, KeepFailed, LogDays string
	// Inherit: the spec follows the global default (per-spec form).
	Inherit bool
	Saved   bool
	Errors  map[string][]string
}

// HousekeepingRow is one recorded housekeeping run.
type HousekeepingRow struct {
	At                              TimeValue
	Trigger                         string
	Jobs, Logs, Tags, Blobs         int
	RegistryFreed, LogsFreed, Error string
	StorageFreed                    string
}

// CacheRow is one package manager's cache.
type CacheRow struct {
	Name, Size, Files string
}
