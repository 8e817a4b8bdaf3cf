package views

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"imagebuilder/db/failure"
)

// The models of the spec list, the spec form and its Jobs tab.

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

// BaseImages is the Image Management page.
type BaseImages struct {
	Layout
	Images []BaseImageOption
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
