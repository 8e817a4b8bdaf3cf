package views

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"imagebuilder/db/failure"
)

// Layout is what every full page needs.
type Layout struct {
	Loc   Loc
	Title string
	// Active is the navigation entry to highlight: "builder" or "images".
	Active string
	// Path is the current URL, for the language switch to come back to.
	Path string
	// CSRF is the token htmx and forms send back.
	CSRF string
	// RegistryMissing shows the seed's "image registry not found" warning.
	RegistryMissing bool
	// RegistryHost is where builds push, for the footer.
	RegistryHost string
	// User is the signed-in administrator ("" on the sign-in pages).
	User string
	// Flash is what the previous request (a form post) has to say.
	Flash Flash
	// NewToken is an API token just created, shown once.
	NewToken string
}

// Flash is a message left by a form post for the page it redirects to.
type Flash struct {
	Kind string // "ok" or "notice"
	Text string
}

// settingsPages are the Active values of the pages under Settings in the
// navigation.
var settingsPages = map[string]bool{"secrets": true, "registry": true, "builds": true, "webhooks": true, "storage": true, "audit": true}

// InSettings reports whether the page is one of the Settings menu's.
func (l Layout) InSettings() bool { return settingsPages[l.Active] }

// SpecRow is one row of the Image Builder list.
type SpecRow struct {
	Name     string
	Status   string // a db status, or "" when never built
	Image    string // the active revision's image, "" when none
	JobID    int64
	Revision int
	// PinnedRevision is the revision an administrator made active (0:
	// the latest succeeded one is).
	PinnedRevision int
	// BaseUpdated: the base image changed since the latest revision.
	BaseUpdated bool
	// Failure says why the latest build failed (nil when it did not).
	Failure *failure.Failure
}

// SpecList is the Image Builder list page: one page of the specs that
// match the filter.
type SpecList struct {
	Layout
	Rows []SpecRow
	// Query and Status are the filter; Statuses its choices ("" all,
	// "none" never built).
	Query    string
	Status   string
	Statuses []string
	// Page counts from 1; Total is how many specs match.
	Page, PerPage, Total int
	// Filtered is true when specs exist but none matches.
	Filtered bool
	// BaseCheck is the result of Check base images ("" none).
	BaseCheck string
}

// Pages is how many pages the matching specs fill.
func (v SpecList) Pages() int {
	if v.PerPage <= 0 || v.Total == 0 {
		return 1
	}
	return (v.Total + v.PerPage - 1) / v.PerPage
}

// PageURL is the list with the current filter at page p.
func (v SpecList) PageURL(p int) string {
	q := url.Values{}
	if v.Query != "" {
		q.Set("q", v.Query)
	}
	if v.Status != "" {
		q.Set("status", v.Status)
	}
	if p > 1 {
		q.Set("page", strconv.Itoa(p))
	}
	if len(q) == 0 {
		return "/specs"
	}
	return "/specs?" + q.Encode()
}

// Active reports whether any row is still pending or building.
func (v SpecList) Active() bool {
	for _, r := range v.Rows {
		if r.Status == "pending" || r.Status == "building" {
			return true
		}
	}
	return false
}

// BaseImageOption is an Image Management entry offered by autocompletion.
type BaseImageOption struct {
	ID                                       int64
	Name, Reference, Description, PullSecret string
}

// SpecForm is the create form and the edit page's Info tab.
type SpecForm struct {
	Layout
	Editing       bool
	Name          string
	BaseImage     string
	UsePullSecret bool
	PullSecret    string
	PullSecrets   []string
	APT           string
	Conda         string
	Pip           string
	// Errors maps a field (name, baseImage, pullSecret, apt, conda, pip,
	// form) to its messages.
	Errors     map[string][]string
	BaseImages []BaseImageOption
	// LatestImage is the image of the latest succeeded revision (edit
	// page), with its job and revision.
	LatestImage         string
	LatestImageJob      int64
	LatestImageRevision int
	// MaxListLines and MaxLineLength are the bounds of a package list,
	// said in the form's help.
	MaxListLines, MaxLineLength int
	// Version is the spec's version the form was opened on (edit page),
	// and Revision its latest revision then; a save against a newer one
	// is refused with Conflict.
	Version  string
	Revision int
	// Intent is the form's one-time key: a second Confirm of the same
	// form makes no second revision.
	Intent string
	// Ack answers Certain: the warnings that will certainly fail the
	// build, which a second Confirm with this Ack accepts.
	Ack     string
	Certain []string
	// Conflict is set when the spec changed since the form was opened.
	Conflict *SpecConflict
	// Notice says something about the values shown (a merge).
	Notice []string
}

// SpecConflict shows an edit that came too late: what the spec held when
// the form was opened, what it holds now and what the form holds, by
// field.
type SpecConflict struct {
	// Revision is the spec's latest revision, By who made it and At when.
	Revision int
	By       string
	At       time.Time
	// BaseKnown: the version the form was opened on is still on record,
	// so "when you opened it" and a merge are possible.
	BaseKnown bool
	Rows      []ConflictRow
}

// ConflictRow is one field that differs between the three.
type ConflictRow struct {
	Label               string
	Base, Theirs, Yours string
	// TheirsChanged and YoursChanged say who changed it since the form was
	// opened.
	TheirsChanged, YoursChanged bool
}

// ErrorField is one line of the form's error summary: the field's element
// id, its label key and its first problem.
type ErrorField struct {
	ID, Label, First string
}

// SpecFormFields are the spec form's fields in its order, and
// specFieldLabels their label keys.
var (
	SpecFormFields  = []string{"name", "baseImage", "pullSecret", "apt", "conda", "pip"}
	specFieldLabels = map[string]string{"name": "form.name", "baseImage": "form.base", "pullSecret": "form.pullsecret",
		"apt": "form.apt", "conda": "form.conda", "pip": "form.pip"}
)

// ErrorFields lists the fields with problems in the form's order.
func (f SpecForm) ErrorFields() []ErrorField {
	var out []ErrorField
	for _, field := range SpecFormFields {
		if errs := f.Errors[field]; len(errs) > 0 {
			out = append(out, ErrorField{ID: field, Label: specFieldLabels[field], First: errs[0]})
		}
	}
	return out
}

// HasErrors reports whether any field has an error.
func (f SpecForm) HasErrors() bool {
	for _, errs := range f.Errors {
		if len(errs) > 0 {
			return true
		}
	}
	return false
}

// JobRow is one row of the Jobs tab.
type JobRow struct {
	ID         int64
	Revision   int
	Status     string
	UpdatedAt  time.Time
	Image      string
	StartedAt  time.Time
	FinishedAt time.Time
	// RequestedBy is who made the job (create, edit, retry, rebuild).
	RequestedBy string
	CanRebuild  bool
	// Since compares a succeeded revision's packages with the previous
	// succeeded one's (nil: no inventory to compare).
	Since *DiffSummary
	// Active: this is the spec's active revision.
	Active bool
	// Failure says why the job failed (nil when it did not).
	Failure *failure.Failure
}

// JobsTab is the edit page's Jobs tab.
type JobsTab struct {
	Layout
	Name string
	Jobs []JobRow
	// Succeeded are the succeeded revisions, newest first (Compare).
	Succeeded []int
	// ActiveRevision is the spec's active revision (0: none yet); Pinned
	// says an administrator chose it rather than it being the latest
	// succeeded one.
	ActiveRevision int
	Pinned         bool
	// Alias keeps AliasImage (<registry>/<name>:active) on the active
	// revision's image.
	Alias      bool
	AliasImage string
	// Retention is the spec's own retention, or the default it follows.
	Retention RetentionForm
	// BasePolicy is what the spec does when its base image changes;
	// BaseUpdate the newer digest found ("" none), BaseChecked when, and
	// RebuildJob the latest succeeded job a Rebuild would take.
	BasePolicy   string
	BasePolicies []string
	BaseUpdate   string
	BaseChecked  TimeValue
	RebuildJob   int64
}

// Active reports whether any job is still pending or building.
func (v JobsTab) Active() bool {
	for _, j := range v.Jobs {
		if j.Status == "pending" || j.Status == "building" {
			return true
		}
	}
	return false
}

// JobView is the page of one build job.
type JobView struct {
	Layout
	// Sources are the package sources the build used (credentials masked).
	Sources  []SourceLine
	ID       int64
	SpecName string
	Revision int
	Status   string
	// Failure says why it failed or was cancelled (nil when it did not).
	Failure    *failure.Failure
	QueuedAt   time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	Image      string
	Digest     string
	Size       int64
	RetryOf    int64
	// ReusedFrom is the job whose image this one reused (0: built), of
	// revision ReusedRevision.
	ReusedFrom     int64
	ReusedRevision int
	// Snapshot is the spec as this job built it.
	SnapshotBase       string
	SnapshotPullSecret string
	SnapshotAPT        []string
	SnapshotConda      []string
	SnapshotPip        []string
	// Lines is the log tail; Cursor the byte offset after it, where the
	// live feed continues.
	Lines      []string
	Cursor     int64
	CanCancel  bool
	CanRetry   bool
	CanRebuild bool
	// RequestedBy and CancelledBy name administrators ("" for none).
	RequestedBy string
	CancelledBy string
	// Inventory is what a succeeded job's image holds (nil otherwise).
	Inventory *InventoryView
	// LogRemoved: retention removed the log.
	LogRemoved bool
}

// DiagnosisIndex is the index in Lines of the log line the failure reason
// quotes (the step's telling line), or -1.
func (v JobView) DiagnosisIndex() int {
	quoted := v.Failure.Quoted()
	if quoted == "" {
		return -1
	}
	for i := len(v.Lines) - 1; i >= 0; i-- {
		// A line is "<timestamp> <text>"; the reason quotes the text.
		_, text, _ := strings.Cut(v.Lines[i], " ")
		text = strings.TrimSpace(text)
		if text == quoted || strings.TrimPrefix(text, "Image Builder: ") == quoted {
			return i
		}
	}
	return -1
}

// Live reports whether the log may still grow.
func (v JobView) Live() bool { return v.Status == "pending" || v.Status == "building" }

// BaseImages is the Image Management page.
type BaseImages struct {
	Layout
	Images []BaseImageOption
}

// ErrorPage is shown for a missing record or a failure.
type ErrorPage struct {
	Layout
	Message string
}

// duration is how long a build took, e.g. "1m 05s"; "" when it has not
// both started and finished.
func duration(start, end time.Time) string {
	if start.IsZero() || end.IsZero() || end.Before(start) {
		return ""
	}
	d := end.Sub(start).Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	if d < time.Hour {
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
}

func statusKey(s string) string {
	if s == "" {
		return "status.none"
	}
	return "status." + s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func iso(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f\u00a0GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f\u00a0MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f\u00a0KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d\u00a0B", n)
}

// LoginForm is the sign-in and first-run setup form.
type LoginForm struct {
	Layout
	Username string
	Next     string
	Error    string
}

// BaseImagesPage is Image Management with its add or edit form.
type BaseImagesPage struct {
	BaseImages
	EditID      int64
	Form        BaseImageOption
	PullSecrets []string
	Errors      map[string][]string
}

// SecretsPage lists pull secrets by name.
type SecretsPage struct {
	Layout
	Names  []string
	Name   string
	Errors map[string][]string
}

// TestResult is the answer of "Test connection".
type TestResult struct {
	OK      bool
	Host    string
	Message string
}

// RegistryForm is the registry settings page.
type RegistryForm struct {
	Layout
	EmbeddedHost string
	External     bool
	Host         string
	Username     string
	HasPassword  bool
	Insecure     bool
	Saved        bool
	Errors       map[string][]string
	TestResult   *TestResult
	Executor     ExecutorInfo
}

// ExecutorInfo says where builds run, as set at start (--executor).
type ExecutorInfo struct {
	// Kubernetes is false for builds in the portal's own process.
	Kubernetes  bool
	Namespace   string
	WorkerImage string
	// Resources is the build pods' requests and limits, e.g.
	// "memory limit 4Gi", or "".
	Resources string
}

// SessionRow is one of the administrator's sessions; Handle names it
// without revealing its ID.
type SessionRow struct {
	Handle    string
	Current   bool
	CreatedAt time.Time
	LastSeen  time.Time
	Address   string
	UserAgent string
}

// AccountPage is the signed-in administrator's sessions and password form.
type AccountPage struct {
	Layout
	Sessions []SessionRow
	Errors   map[string][]string
	Notice   string
	// Tokens are every API token; TokenName and TokenDays the create
	// form's input, NewToken the token just created (shown this once).
	Tokens          []TokenRow
	TokenName       string
	TokenDays       string
	TokenDayChoices []string
	NewToken        string
}

// TokenRow is one API token (never its secret).
type TokenRow struct {
	ID                             int64
	Name, Hint, CreatedBy          string
	CreatedAt, ExpiresAt, LastUsed time.Time
	// State is active, expired or revoked.
	State string
}

func boolAttr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// AuditRow is one administrator action.
type AuditRow struct {
	At       time.Time
	Actor    string
	Action   string
	Spec     string
	JobID    int64
	Revision int
	// SpecExists: the spec is still there to link to.
	SpecExists bool
	// Target names what changed when it is not a spec; Detail says how.
	Target, Detail string
}

// AuditPage is the audit log, optionally of one spec.
type AuditPage struct {
	Layout
	Spec    string
	Specs   []string
	Events  []AuditRow
	Page    int
	HasNext bool
}

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

// SourcesForm is the Package sources page. URLs come with credentials
// masked; a masked URL sent back keeps the stored one.
type SourcesForm struct {
	Layout
	PipIndexURL, PipExtra, PipTrusted, CondaChannels, APTSource, APTKey string
	CondaOverride                                                       bool
	Saved                                                               bool
	Errors                                                              map[string][]string
}

// LimitsForm is the build limits form: sizes and CPUs as typed.
type LimitsForm struct {
	Memory, CPUs string
	MachineCPUs  int
	// Enforced is false when this process cannot make control groups.
	Enforced   bool
	Kubernetes bool
	Saved      bool
	Errors     map[string][]string
}

// SourceLine is one package source a job used: a label key and its value.
type SourceLine struct {
	Key, Value string
}

// BaseInfo is what the chosen base image offers.
type BaseInfo struct {
	OS, Arch, User string
	Tools          map[string]bool
}

// BaseCheck is the answer of the form's live base-image checks: warnings
// by field (baseImage, apt, conda, pip), what the image offers, and
// whether to offer adding python3-pip to the APT list.
type BaseCheck struct {
	Loc      Loc
	Warnings map[string][]string
	Info     BaseInfo
	OfferPip bool
}

// ToolList names the tools the image has, in a fixed order.
func (b BaseInfo) ToolList() string {
	var have []string
	for _, t := range []string{"apt-get", "python3", "pip", "conda"} {
		if b.Tools[t] {
			have = append(have, t)
		}
	}
	return strings.Join(have, ", ")
}

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

// WebhooksPage lists webhook endpoints, adds one and shows the latest
// deliveries.
type WebhooksPage struct {
	Layout
	Hooks      []WebhookRow
	Deliveries []DeliveryRow
	Form       WebhookForm
	AllEvents  []string
	Notice     string
}

// WebhookRow is one endpoint (never its secret).
type WebhookRow struct {
	ID        int64
	URL       string
	Events    []string
	CreatedBy string
	CreatedAt time.Time
}

// WebhookForm is an endpoint being added: the secret is never shown again.
type WebhookForm struct {
	URL    string
	Events []string
	Errors map[string][]string
}

// DeliveryRow is one delivery with its last attempt.
type DeliveryRow struct {
	ID, JobID int64
	// Spec and Revision are what the job built.
	Spec                      string
	Revision                  int
	URL, Event, State         string
	Attempts, StatusCode      int
	Duration, Error           string
	CreatedAt, LastAt, NextAt time.Time
}

// BuildsPage lists the builds that run or wait, across specs.
type BuildsPage struct {
	Layout
	Rows []QueueRow
	// Now is when the page was made (waiting times count to it).
	Now time.Time
	// Workers is how many builds run at once (0: not said).
	Workers int
}

// QueueRow is one build that runs or waits.
type QueueRow struct {
	ID       int64
	Spec     string
	Revision int
	Status   string
	// Position is the place in the queue of a waiting build (1: next).
	Position    int
	QueuedAt    time.Time
	StartedAt   time.Time
	RequestedBy string
}

// Waited is how long the build waited, or waits so far.
func (r QueueRow) Waited(now time.Time) string {
	if r.Status == "building" {
		return duration(r.QueuedAt, r.StartedAt)
	}
	return duration(r.QueuedAt, now)
}

// Live reports whether the page must keep itself up to date.
func (v BuildsPage) Live() bool { return len(v.Rows) > 0 }
