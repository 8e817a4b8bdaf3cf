package handlers

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"imagebuilder/builder/spec"
	"imagebuilder/db"
	"imagebuilder/views"
)

// conflictForm shows the form again, as the user left it, with what the
// spec holds now beside it.
func (h *handler) conflictForm(c *fiber.Ctx, mine db.ImageSpec, form views.SpecForm, stale *db.StaleError) error {
	base, known, err := h.specAt(c, mine.Name, form.Version)
	if err != nil {
		return err
	}
	conflict := &views.SpecConflict{Revision: stale.Revision, By: stale.By, At: stale.At, BaseKnown: known}
	theirs := stale.Current.ImageSpec
	for _, f := range specFields {
		b, t, m := f.get(base), f.get(theirs), f.get(mine)
		if t == m && (!known || t == b) {
			continue
		}
		conflict.Rows = append(conflict.Rows, views.ConflictRow{Label: f.label, Base: b, Theirs: t, Yours: m,
			TheirsChanged: known && t != b, YoursChanged: !known || m != b})
	}
	form.Conflict = conflict
	return h.showForm(c, form, true, fiber.StatusConflict)
}

// specAt is the spec's content at version, from its revisions on record.
func (h *handler) specAt(c *fiber.Ctx, name, version string) (db.ImageSpec, bool, error) {
	if version == "" {
		return db.ImageSpec{}, false, nil
	}
	jobs, err := h.DB.ListJobs(c.UserContext(), name)
	if err != nil {
		return db.ImageSpec{}, false, err
	}
	for _, j := range jobs {
		if j.Snapshot.Version() == version {
			return j.Snapshot, true, nil
		}
	}
	return db.ImageSpec{}, false, nil
}

// mergeForm applies the form's changes on top of what the spec holds now
// and shows the result to confirm; it saves nothing.
func (h *handler) mergeForm(c *fiber.Ctx, mine db.ImageSpec, form views.SpecForm) error {
	loc := locOf(c)
	current, err := h.DB.GetSpec(c.UserContext(), mine.Name)
	if err != nil {
		return err
	}
	merged := mine
	var both []string
	if base, known, err := h.specAt(c, mine.Name, form.Version); err != nil {
		return err
	} else if known {
		merged, both = spec.Merge(base, current.ImageSpec, mine)
	}
	next := formOf(merged)
	next.Intent, next.Version, next.Revision = form.Intent, current.Version(), 0
	if err := h.fillLatest(c, &next); err != nil {
		return err
	}
	next.Notice = append(next.Notice, loc.T("conflict.merged", next.Revision))
	if len(both) > 0 {
		var labels []string
		for _, f := range both {
			labels = append(labels, loc.T(fieldLabels[f]))
		}
		next.Notice = append(next.Notice, loc.T("conflict.both", strings.Join(labels, loc.T("list.sep"))))
	}
	return h.showForm(c, next, true, fiber.StatusOK)
}

// specFields are the spec form's fields as text, for the conflict table.
var specFields = []struct {
	label string
	get   func(db.ImageSpec) string
}{
	{"form.base", func(s db.ImageSpec) string { return s.BaseImage }},
	{"form.pullsecret.choose", func(s db.ImageSpec) string { return s.PullSecret }},
	{"form.apt", func(s db.ImageSpec) string { return strings.Join(s.APT, "\n") }},
	{"form.conda", func(s db.ImageSpec) string { return strings.Join(s.Conda, "\n") }},
	{"form.pip", func(s db.ImageSpec) string { return strings.Join(s.Pip, "\n") }},
}
