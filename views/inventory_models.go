package views

// The models of a revision's packages, Compare and the pinned spec.

// InventoryView is the Packages section of a succeeded job's page.
type InventoryView struct {
	JobID int64
	// Missing: no inventory was taken (a job older than inventories).
	Missing bool
	// Error says why the image could not be read ("" when it was).
	Error string
	// CopiedFromRevision is the revision whose inventory this is (a
	// reused image; 0: read from this image).
	CopiedFromRevision int
	Distro             string
	Total              int
	Counts             []TypeCount
	// Query and Type filter Rows.
	Query string
	Type  string
	Rows  []PackageRow
	// Since is the comparison with the previous succeeded revision.
	Since *DiffSummary
	// Pinned is this revision's spec pinned to what it installed.
	Pinned *PinnedView
}

// TypeCount is how many packages of one type an image holds.
type TypeCount struct {
	Type string
	N    int
}

// PackageRow is one installed package.
type PackageRow struct {
	Type, Name, Version, Location string
	// Requested: a line of the spec asked for it.
	Requested bool
}

// DiffSummary is "+N −M ~K packages vs revision R".
type DiffSummary struct {
	Against                 int
	Added, Removed, Changed int
	// CompareURL shows the two revisions side by side.
	CompareURL string
}

// PinnedView is a spec pinned to the versions one revision installed.
type PinnedView struct {
	Base          string
	APT, Conda    []string
	Pip, Unpinned []string
}

// CompareView shows two revisions of a spec side by side.
type CompareView struct {
	Layout
	Name string
	// Revisions are the succeeded revisions to choose from, newest first.
	Revisions []int
	From, To  int
	FromJob   int64
	ToJob     int64
	// Problem says why the packages cannot be compared ("" when they can).
	Problem     string
	SpecChanges []SpecChange
	Groups      []DiffGroup
}

// SpecChange is the lines of one list that differ.
type SpecChange struct {
	List           string // base, pullSecret, apt, conda, pip
	Added, Removed []string
}

// DiffGroup is what changed among one type of package.
type DiffGroup struct {
	Type           string
	Added, Removed []PackageRow
	Changed        []VersionChange
}

// VersionChange is a package whose version changed.
type VersionChange struct {
	Name, Old, New string
}
