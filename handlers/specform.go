package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"imagebuilder/builder/plan"
	"imagebuilder/builder/queue"
	"imagebuilder/builder/settings"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
	"imagebuilder/views"
)

// The spec form: create and edit, saved once per form and never over
// another edit (specconflict.go), with live checks and the Containerfile
// preview.

func (h *handler) newSpec(c *fiber.Ctx) error {
	l := h.layout(c, "", "builder")
	l.Title = l.Loc.T("form.create.title")
	v := views.SpecForm{Layout: l, Intent: randomToken()}
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

// formKey is a one-time or version key the form carries back: at most 64
// URL-safe characters, or nothing.
var formKey = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func formKeyValue(c *fiber.Ctx, name string) string {
	if v := c.FormValue(name); formKey.MatchString(v) {
		return utils.CopyString(v)
	}
	return ""
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
		Version:       formKeyValue(c, "version"),
		Intent:        formKeyValue(c, "intent"),
		Ack:           formKeyValue(c, "ack"),
	}
	form.Revision, _ = strconv.Atoi(c.FormValue("revision"))
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

// formOf is the form showing a spec.
func formOf(s db.ImageSpec) views.SpecForm {
	return views.SpecForm{Name: s.Name, BaseImage: s.BaseImage, UsePullSecret: s.PullSecret != "", PullSecret: s.PullSecret,
		APT: strings.Join(s.APT, "\n"), Conda: strings.Join(s.Conda, "\n"), Pip: strings.Join(s.Pip, "\n")}
}

func (h *handler) createSpec(c *fiber.Ctx) error {
	in, form := specFromForm(c)
	return h.saveSpecForm(c, in, form, false)
}

func (h *handler) editSpec(c *fiber.Ctx) error {
	spec, err := h.DB.GetSpec(c.UserContext(), c.Params("name"))
	if err != nil {
		return err
	}
	l := h.layout(c, "", "builder")
	l.Title = l.Loc.T("form.edit.title") + ": " + spec.Name
	v := formOf(spec.ImageSpec)
	v.Layout, v.Editing, v.Version, v.Intent = l, true, spec.Version(), randomToken()
	if err := h.fillFormChoices(c, &v); err != nil {
		return err
	}
	if err := h.fillLatest(c, &v); err != nil {
		return err
	}
	return render(c, fiber.StatusOK, l, views.SpecFormContent(v))
}

// fillLatest adds the spec's active image and latest revision to the edit
// form.
func (h *handler) fillLatest(c *fiber.Ctx, v *views.SpecForm) error {
	if active, _, ok, err := h.DB.ActiveJob(c.UserContext(), v.Name); err != nil {
		return err
	} else if ok {
		v.LatestImage, v.LatestImageJob, v.LatestImageRevision = active.Image, active.ID, active.Revision
	}
	if v.Revision == 0 {
		jobs, err := h.DB.FindJobs(c.UserContext(), db.JobFilter{Spec: v.Name, Limit: 1})
		if err != nil {
			return err
		}
		if len(jobs) > 0 {
			v.Revision = jobs[0].Revision
		}
	}
	return nil
}

func (h *handler) updateSpec(c *fiber.Ctx) error {
	name := utils.CopyString(c.Params("name"))
	if _, err := h.DB.GetSpec(c.UserContext(), name); err != nil {
		return err
	}
	in, form := specFromForm(c)
	// The name is not editable: the URL names the spec.
	in.Name, form.Name = name, name
	if c.FormValue("resolve") == "merge" {
		return h.mergeForm(c, in, form)
	}
	return h.saveSpecForm(c, in, form, true)
}

// saveSpecForm saves a confirmed create or edit once: a second Confirm of
// the same form, or one that changes nothing, builds nothing and says so;
// an edit of a spec changed since the form was opened shows the conflict;
// a build that will certainly fail asks for a second Confirm first.
func (h *handler) saveSpecForm(c *fiber.Ctx, in db.ImageSpec, form views.SpecForm, editing bool) error {
	ctx := c.UserContext()
	edit := db.Edit{Spec: in, Create: !editing, IfVersion: form.Version, Intent: form.Intent}
	// A conflict comes first: it decides what the form should hold.
	var stale *db.StaleError
	if err := h.DB.CheckEdit(ctx, edit); errors.As(err, &stale) {
		return h.conflictForm(c, in, form, stale)
	} else if err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	if spec.Validate(in) == nil {
		if certain := h.certainFailures(ctx, locOf(c), in, form); len(certain) > 0 && form.Ack != ackOf(certain) {
			form.Certain, form.Ack = certain, ackOf(certain)
			return h.showForm(c, form, editing, fiber.StatusUnprocessableEntity)
		}
	}
	res, err := h.Queue.Save(ctx, edit)
	switch {
	case errors.As(err, &stale):
		return h.conflictForm(c, in, form, stale)
	case err != nil:
		return h.formError(c, form, editing, err)
	}
	name := res.Spec.Name
	switch {
	case res.Repeated && res.Job.ID != 0:
		err = h.setFlash(c, flash{Kind: flashNotice, Key: "form.repeated", Args: []string{fmt.Sprint(res.Job.Revision)}})
	case res.Repeated || !res.Changed:
		err = h.setFlash(c, flash{Kind: flashNotice, Key: "form.unchanged"})
	case !editing:
		err = h.setFlash(c, flash{Kind: flashOK, Key: "form.created", Args: []string{name, fmt.Sprint(res.Job.Revision)}})
	default:
		err = h.setFlash(c, flash{Kind: flashOK, Key: "form.saved", Args: []string{fmt.Sprint(res.Job.Revision)}})
	}
	if err != nil {
		return err
	}
	return redirectAfterPost(c, "/specs/"+name+"/jobs")
}

// ackOf is the key a second Confirm carries to accept these warnings.
func ackOf(warnings []string) string {
	sum := sha256.Sum256([]byte(strings.Join(warnings, "\x00")))
	return hex.EncodeToString(sum[:8])
}

// showForm renders the spec form as given, with its choices.
func (h *handler) showForm(c *fiber.Ctx, form views.SpecForm, editing bool, status int) error {
	l := h.layout(c, "", "builder")
	form.Layout, form.Editing = l, editing
	if err := h.fillFormChoices(c, &form); err != nil {
		return err
	}
	if editing {
		l.Title = l.Loc.T("form.edit.title") + ": " + form.Name
		if err := h.fillLatest(c, &form); err != nil {
			return err
		}
	} else {
		l.Title = l.Loc.T("form.create.title")
	}
	form.Layout = l
	return render(c, status, l, views.SpecFormContent(form))
}

// maxErrorsPerField is how many problems one field lists on a page; the
// rest are counted.
const maxErrorsPerField = 10

// formError shows the form again with every error next to its field and
// the user's input kept (422), or passes other errors on.
func (h *handler) formError(c *fiber.Ctx, form views.SpecForm, editing bool, err error) error {
	loc := locOf(c)
	form.Errors = map[string][]string{}
	var verr spec.ValidationError
	switch {
	case errors.As(err, &verr):
		form.Errors = fieldProblems(loc, verr)
	case errors.Is(err, db.ErrConflict):
		form.Errors[spec.FieldName] = append(form.Errors[spec.FieldName], say(loc, err))
	case errors.Is(err, queue.ErrNoRegistry):
		form.Errors["form"] = append(form.Errors["form"], err.Error())
	default:
		return err
	}
	return h.showForm(c, form, editing, fiber.StatusUnprocessableEntity)
}

func fieldMessage(loc views.Loc, e spec.FieldError) string {
	if e.Line > 0 {
		return loc.T("form.line", e.Line) + say(loc, e.Message)
	}
	return say(loc, e.Message)
}

// fieldProblems groups a validation error's problems by field, in the
// page's language, at most maxErrorsPerField each (the rest counted).
func fieldProblems(loc views.Loc, err error) map[string][]string {
	out := map[string][]string{}
	var verr spec.ValidationError
	if !errors.As(err, &verr) {
		return out
	}
	hidden := map[string]int{}
	for _, e := range verr {
		if len(out[e.Field]) >= maxErrorsPerField {
			hidden[e.Field]++
			continue
		}
		out[e.Field] = append(out[e.Field], fieldMessage(loc, e))
	}
	for field, n := range hidden {
		out[field] = append(out[field], loc.N("form.errors.more", n))
	}
	return out
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
	// An edit builds on the spec's last good build, as the queue will.
	prev, ok, err := h.DB.LastSucceededJob(c.UserContext(), in.Name, 0)
	if err != nil {
		return err
	}
	cf, err := spec.ContainerfileWith(in, plan.For(in, prev, ok, h.Can).Options(src.Redacted()))
	var verr spec.ValidationError
	switch {
	case errors.As(err, &verr):
		for _, e := range verr {
			if len(problems) == maxErrorsPerField {
				problems = append(problems, loc.N("form.errors.more", len(verr)-maxErrorsPerField))
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

// checkFields answers the form's live checks as the user types: the
// problems of each field the user has touched (or that shows problems
// already), so a problem goes as soon as its field is right, and the
// summary at the top. It stores nothing.
func (h *handler) checkFields(c *fiber.Ctx) error {
	in, form := specFromForm(c)
	loc := locOf(c)
	editing := c.FormValue("editing") == "1"
	touched := map[string]bool{}
	for _, f := range strings.Split(c.FormValue("touched"), ",") {
		touched[f] = true
	}
	if touched["usePullSecret"] {
		touched[spec.FieldPullSecret] = true
	}
	all := fieldProblems(loc, spec.Validate(in))
	if len(all[spec.FieldName]) == 0 && in.Name != "" && !editing {
		if _, err := h.DB.GetSpec(c.UserContext(), in.Name); err == nil {
			all[spec.FieldName] = append(all[spec.FieldName], loc.T("form.name.taken", in.Name))
		}
	}
	if msg, err := settings.CheckPullSecret(c.UserContext(), h.DB, in.PullSecret); err != nil {
		return err
	} else if !msg.IsZero() {
		all[spec.FieldPullSecret] = append(all[spec.FieldPullSecret], say(loc, msg))
	}
	form.Layout = views.Layout{Loc: loc}
	form.Errors = map[string][]string{}
	var fields []string
	for _, f := range views.SpecFormFields {
		if touched[f] && !(editing && f == spec.FieldName) {
			fields = append(fields, f)
			form.Errors[f] = all[f]
		}
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return views.FieldChecks(form, fields, c.FormValue("summary") == "1").Render(c.UserContext(), c)
}
