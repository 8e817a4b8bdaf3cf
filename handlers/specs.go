package handlers

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"imagebuilder/builder/queue"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
	"imagebuilder/views"
)

// specsPerPage is how many specs one page of the list shows.
const specsPerPage = 50

// listStatuses are the status filter's values ("none": never built).
var listStatuses = []string{"", "pending", "building", "succeeded", "failed", "cancelled", "none"}

func (h *handler) listSpecs(c *fiber.Ctx) error {
	q := utils.CopyString(strings.TrimSpace(c.Query("q")))
	if len(q) > spec.MaxNameLength {
		q = q[:spec.MaxNameLength]
	}
	status := c.Query("status")
	if !slices.Contains(listStatuses, status) {
		status = ""
	}
	page := max(c.QueryInt("page", 1), 1)
	res, err := h.DB.ListSpecsPage(c.UserContext(), db.SpecFilter{Query: q, Status: status, Limit: specsPerPage, Offset: (page - 1) * specsPerPage})
	if err != nil {
		return err
	}
	l := h.layout(c, "", "builder")
	v := views.SpecList{Layout: l, Query: q, Status: status, Statuses: listStatuses, Page: page, PerPage: specsPerPage, Total: res.Total}
	if checked, err := strconv.Atoi(c.Query("checked")); err == nil {
		updated, _ := strconv.Atoi(c.Query("updated"))
		rebuilt, _ := strconv.Atoi(c.Query("rebuilt"))
		v.BaseCheck = l.Loc.T("bases.checked.result", checked, updated, rebuilt)
		if failed, _ := strconv.Atoi(c.Query("failed")); failed > 0 {
			v.BaseCheck += " " + l.Loc.T("bases.checked.failed", failed, l.Loc.T("bases.checked.log"))
		}
	}
	if res.Total == 0 && (q != "" || status != "") {
		v.Filtered = true
	}
	for _, s := range res.Specs {
		row := views.SpecRow{Name: s.Name, Status: string(s.Status), Image: s.Image, JobID: s.LatestJobID, Revision: s.LatestRevision, BaseUpdated: s.BaseUpdated}
		if s.Pinned {
			row.PinnedRevision = s.ActiveRevision
		}
		v.Rows = append(v.Rows, row)
	}
	return render(c, fiber.StatusOK, l, views.SpecListContent(v))
}

func (h *handler) newSpec(c *fiber.Ctx) error {
	l := h.layout(c, "", "builder")
	l.Title = l.Loc.T("form.create.title")
	v := views.SpecForm{Layout: l}
	if err := h.fillFormChoices(c, &v); err != nil {
		return err
	}
	return render(c, fiber.StatusOK, l, views.SpecFormContent(v))
}

// fillFormChoices adds the Image Management entries for autocompletion
// and the bounds the help text names.
func (h *handler) fillFormChoices(c *fiber.Ctx, v *views.SpecForm) error {
	v.MaxListLines, v.MaxLineLength = spec.MaxListLines, spec.MaxLineLength
	images, err := h.DB.ListBaseImages(c.UserContext())
	if err != nil {
		return err
	}
	for _, b := range images {
		v.BaseImages = append(v.BaseImages, baseImageOption(b))
	}
	secrets, err := h.DB.ListPullSecrets(c.UserContext())
	if err != nil {
		return err
	}
	for _, s := range secrets {
		v.PullSecrets = append(v.PullSecrets, s.Name)
	}
	return nil
}

// specFromForm reads the form; it keeps the user's text as typed so an
// error page shows it back unchanged.
func specFromForm(c *fiber.Ctx) (db.ImageSpec, views.SpecForm) {
	form := views.SpecForm{
		Name:          utils.CopyString(strings.TrimSpace(c.FormValue("name"))),
		BaseImage:     utils.CopyString(strings.TrimSpace(c.FormValue("baseImage"))),
		UsePullSecret: c.FormValue("usePullSecret") == "on",
		PullSecret:    utils.CopyString(c.FormValue("pullSecret")),
		APT:           utils.CopyString(c.FormValue("apt")),
		Conda:         utils.CopyString(c.FormValue("conda")),
		Pip:           utils.CopyString(c.FormValue("pip")),
	}
	spec := db.ImageSpec{
		Name:      form.Name,
		BaseImage: form.BaseImage,
		APT:       spec.SplitLines(form.APT),
		Conda:     spec.SplitLines(form.Conda),
		Pip:       spec.SplitLines(form.Pip),
	}
	if form.UsePullSecret {
		spec.PullSecret = form.PullSecret
	}
	return spec, form
}

func (h *handler) createSpec(c *fiber.Ctx) error {
	spec, form := specFromForm(c)
	_, _, err := h.Queue.Create(c.UserContext(), spec)
	if err != nil {
		return h.formError(c, form, false, err)
	}
	return redirectAfterPost(c, "/specs")
}

func (h *handler) editSpec(c *fiber.Ctx) error {
	spec, err := h.DB.GetSpec(c.UserContext(), c.Params("name"))
	if err != nil {
		return err
	}
	l := h.layout(c, "", "builder")
	l.Title = l.Loc.T("form.edit.title") + ": " + spec.Name
	v := views.SpecForm{
		Layout: l, Editing: true, Name: spec.Name, BaseImage: spec.BaseImage,
		UsePullSecret: spec.PullSecret != "", PullSecret: spec.PullSecret,
		APT: strings.Join(spec.APT, "\n"), Conda: strings.Join(spec.Conda, "\n"), Pip: strings.Join(spec.Pip, "\n"),
	}
	if err := h.fillFormChoices(c, &v); err != nil {
		return err
	}
	if active, _, ok, err := h.DB.ActiveJob(c.UserContext(), spec.Name); err != nil {
		return err
	} else if ok {
		v.LatestImage, v.LatestImageJob, v.LatestImageRevision = active.Image, active.ID, active.Revision
	}
	return render(c, fiber.StatusOK, l, views.SpecFormContent(v))
}

func (h *handler) updateSpec(c *fiber.Ctx) error {
	name := utils.CopyString(c.Params("name"))
	if _, err := h.DB.GetSpec(c.UserContext(), name); err != nil {
		return err
	}
	spec, form := specFromForm(c)
	// The name is not editable: the URL names the spec.
	spec.Name, form.Name = name, name
	if _, _, err := h.Queue.Update(c.UserContext(), spec); err != nil {
		return h.formError(c, form, true, err)
	}
	return redirectAfterPost(c, "/specs/"+name+"/jobs")
}

// maxErrorsPerField is how many problems one field lists on a page; the
// rest are counted.
const maxErrorsPerField = 10

// formError shows the form again with every error next to its field and
// the user's input kept (422), or passes other errors on.
func (h *handler) formError(c *fiber.Ctx, form views.SpecForm, editing bool, err error) error {
	l := h.layout(c, "", "builder")
	form.Layout, form.Editing = l, editing
	form.Errors = map[string][]string{}
	var verr spec.ValidationError
	switch {
	case errors.As(err, &verr):
		hidden := map[string]int{}
		for _, e := range verr {
			if len(form.Errors[e.Field]) >= maxErrorsPerField {
				hidden[e.Field]++
				continue
			}
			form.Errors[e.Field] = append(form.Errors[e.Field], fieldMessage(l.Loc, e))
		}
		for field, n := range hidden {
			form.Errors[field] = append(form.Errors[field], l.Loc.T("form.errors.more", n))
		}
	case errors.Is(err, db.ErrConflict):
		form.Errors[spec.FieldName] = append(form.Errors[spec.FieldName], say(l.Loc, err))
	case errors.Is(err, queue.ErrNoRegistry):
		form.Errors["form"] = append(form.Errors["form"], err.Error())
	default:
		return err
	}
	if err := h.fillFormChoices(c, &form); err != nil {
		return err
	}
	if editing {
		l.Title = l.Loc.T("form.edit.title") + ": " + form.Name
	} else {
		l.Title = l.Loc.T("form.create.title")
	}
	form.Layout = l
	return render(c, fiber.StatusUnprocessableEntity, l, views.SpecFormContent(form))
}

func fieldMessage(loc views.Loc, e spec.FieldError) string {
	if e.Line > 0 {
		return loc.T("form.line", e.Line) + say(loc, e.Message)
	}
	return say(loc, e.Message)
}

// fieldLabels are the label keys of the spec form's fields.
var fieldLabels = map[string]string{spec.FieldName: "form.name", spec.FieldBaseImage: "form.base",
	spec.FieldPullSecret: "form.pullsecret", spec.ListAPT: "form.apt", spec.ListConda: "form.conda", spec.ListPip: "form.pip"}

// preview answers the form's live Containerfile preview: what Confirm
// would build, or every problem that stops it, in the page's language.
// It stores nothing.
func (h *handler) preview(c *fiber.Ctx) error {
	in, _ := specFromForm(c)
	if in.Name == "" {
		in.Name = utils.CopyString(c.Params("name", "preview"))
	}
	loc := locOf(c)
	var problems []string
	src, err := h.Settings.Sources(c.UserContext())
	if err != nil {
		return err
	}
	opts := spec.Options{Sources: src.Redacted(), Gate: !h.Executor.Kubernetes && h.Caches != nil && h.Caches.StepLimits()}
	// An edit builds on the spec's last good build, as the queue will.
	if prev, ok, err := h.DB.LastSucceededJob(c.UserContext(), in.Name, 0); err != nil {
		return err
	} else if ok && prev.Snapshot.BaseImage == in.BaseImage && !h.Executor.Kubernetes {
		opts.PreviousAPT = prev.APTSteps
	}
	cf, err := spec.ContainerfileWith(in, opts)
	var verr spec.ValidationError
	switch {
	case errors.As(err, &verr):
		for _, e := range verr {
			if len(problems) == maxErrorsPerField {
				problems = append(problems, loc.T("form.errors.more", len(verr)-maxErrorsPerField))
				break
			}
			problems = append(problems, loc.T(fieldLabels[e.Field])+": "+fieldMessage(loc, e))
		}
	case err != nil:
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return views.Preview(loc, cf, problems).Render(c.UserContext(), c)
}

// checkName answers the form's live name check.
func (h *handler) checkName(c *fiber.Ctx) error {
	name := strings.TrimSpace(c.FormValue("name"))
	var errs []string
	loc := locOf(c)
	if problems := spec.NameProblems(name); len(problems) > 0 && name != "" {
		for _, msg := range problems {
			errs = append(errs, say(loc, msg))
		}
	} else if name != "" {
		if _, err := h.DB.GetSpec(c.UserContext(), name); err == nil {
			errs = append(errs, loc.T("form.name.taken", name))
		}
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return views.NameErrors(errs).Render(c.UserContext(), c)
}

func (h *handler) specJobs(c *fiber.Ctx) error {
	return h.renderJobsTab(c, utils.CopyString(c.Params("name")), nil)
}

// renderJobsTab shows a spec's Jobs tab; retention, when set, is the
// retention form as sent, with its errors.
func (h *handler) renderJobsTab(c *fiber.Ctx, name string, retention *views.RetentionForm) error {
	sp, err := h.DB.GetSpec(c.UserContext(), name)
	if err != nil {
		return err
	}
	jobs, err := h.DB.ListJobs(c.UserContext(), name)
	if err != nil {
		return err
	}
	l := h.layout(c, "", "builder")
	l.Title = l.Loc.T("tab.jobs") + ": " + name
	invs, err := h.DB.Inventories(c.UserContext(), name)
	if err != nil {
		return err
	}
	active, pinned, hasActive, err := h.DB.ActiveJob(c.UserContext(), name)
	if err != nil {
		return err
	}
	base, err := h.DB.GetBaseState(c.UserContext(), name)
	if err != nil {
		return err
	}
	v := views.JobsTab{Layout: l, Name: name, Alias: sp.AliasTag, BasePolicy: base.Policy, BasePolicies: db.BasePolicies,
		BaseUpdate: base.Update, BaseChecked: views.At(base.CheckedAt)}
	if retention != nil {
		v.Retention = *retention
	} else if v.Retention, err = h.specRetentionForm(c, name); err != nil {
		return err
	}
	if hasActive {
		v.ActiveRevision, v.Pinned, v.AliasImage = active.Revision, pinned, active.Registry+"/"+name+":"+db.AliasTag
	}
	for _, j := range jobs {
		v.Jobs = append(v.Jobs, views.JobRow{ID: j.ID, Revision: j.Revision, Status: string(j.Status), UpdatedAt: j.UpdatedAt,
			Image: j.Image, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt, RequestedBy: j.RequestedBy,
			CanRebuild: j.Status == db.StatusSucceeded, Since: diffSummary(name, j.Revision, invs[j.ID]), Active: hasActive && j.ID == active.ID})
		if j.Status == db.StatusSucceeded {
			v.Succeeded = append(v.Succeeded, j.Revision)
			if v.RebuildJob == 0 {
				v.RebuildJob = j.ID
			}
		}
	}
	status := fiber.StatusOK
	if len(v.Retention.Errors) > 0 {
		status = fiber.StatusUnprocessableEntity
	}
	return render(c, status, l, views.JobsTabContent(v))
}

func (h *handler) confirmDelete(c *fiber.Ctx) error {
	spec, err := h.DB.GetSpec(c.UserContext(), c.Params("name"))
	if err != nil {
		return err
	}
	l := h.layout(c, "", "builder")
	l.Title = l.Loc.T("delete.title")
	return render(c, fiber.StatusOK, l, views.DeleteDialog(l, spec.Name, false))
}

func (h *handler) deleteSpec(c *fiber.Ctx) error {
	if err := h.Queue.Delete(c.UserContext(), utils.CopyString(c.Params("name"))); err != nil {
		return err
	}
	return redirectAfterPost(c, "/specs")
}

// activate makes a succeeded revision the spec's active one (job=0: the
// latest succeeded one).
func (h *handler) activate(c *fiber.Ctx) error {
	name := utils.CopyString(c.Params("name"))
	id, err := strconv.ParseInt(c.FormValue("job"), 10, 64)
	if err != nil || id < 0 {
		return fiber.NewError(fiber.StatusBadRequest, "choose a revision to make active")
	}
	if err := h.Queue.Activate(c.UserContext(), name, id); err != nil {
		return err
	}
	return redirectAfterPost(c, "/specs/"+name+"/jobs")
}

// setAlias turns the spec's <name>:active tag on or off.
func (h *handler) setAlias(c *fiber.Ctx) error {
	name := utils.CopyString(c.Params("name"))
	if err := h.Queue.SetAlias(c.UserContext(), name, c.FormValue("on") == "1"); err != nil {
		return err
	}
	return redirectAfterPost(c, "/specs/"+name+"/jobs")
}

// setBasePolicy chooses what the spec does when its base image changes.
func (h *handler) setBasePolicy(c *fiber.Ctx) error {
	name := utils.CopyString(c.Params("name"))
	if err := h.DB.SetBasePolicy(c.UserContext(), name, c.FormValue("policy")); err != nil {
		return err
	}
	return redirectAfterPost(c, "/specs/"+name+"/jobs#base-image")
}

// checkBases resolves every spec's base image again, now.
func (h *handler) checkBases(c *fiber.Ctx) error {
	res, err := h.Queue.CheckBases(c.UserContext())
	if err != nil {
		return err
	}
	if len(res.Failed) > 0 {
		h.Log.Warn("base image check", "failed", res.Failed)
	}
	return redirectAfterPost(c, fmt.Sprintf("/specs?checked=%d&updated=%d&rebuilt=%d&failed=%d", res.Checked, res.Updated, res.Rebuilt, len(res.Failed)))
}
