package handlers

import (
	_ "embed"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"imagebuilder/builder/message"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/settings"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
	"imagebuilder/handlers/apiv1"
	"imagebuilder/views"
)

// --- What the API answers ----------------------------------------------------

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func apiJob(loc views.Loc, j db.Job) apiv1.Job {
	out := apiv1.Job{ID: j.ID, Spec: j.SpecName, Revision: j.Revision, Status: string(j.Status), Snapshot: j.Snapshot,
		Registry: j.Registry, Image: j.Image, Digest: j.Digest, Size: j.Size, Reason: string(j.Failure.Code()), Failure: j.Failure, RetryOf: j.RetryOf,
		ReusedFrom: j.ReusedFrom, BaseDigest: j.BaseDigest, RequestedBy: j.RequestedBy, CancelledBy: j.CancelledBy,
		QueuedAt: timePtr(j.QueuedAt), StartedAt: timePtr(j.StartedAt), FinishedAt: timePtr(j.FinishedAt)}
	if j.Status == db.StatusFailed || j.Status == db.StatusCancelled {
		out.Diagnosis, out.Hint = views.Diagnosis(loc, j.Failure)
	}
	return out
}

// apiSpec is the spec named name with where it stands.
func (h *handler) apiSpec(c *fiber.Ctx, name string) (apiv1.Spec, error) {
	ctx := c.UserContext()
	s, err := h.DB.GetSpec(ctx, name)
	if err != nil {
		return apiv1.Spec{}, err
	}
	out := apiv1.Spec{ImageSpec: s.ImageSpec, UpdatedAt: timePtr(s.UpdatedAt)}
	if active, _, ok, err := h.DB.ActiveJob(ctx, name); err != nil {
		return apiv1.Spec{}, err
	} else if ok {
		out.Image, out.ActiveRevision, out.Pinned = active.Image, active.Revision, s.ActiveJob != 0
	}
	if jobs, err := h.DB.FindJobs(ctx, db.JobFilter{Spec: name, Limit: 1}); err != nil {
		return apiv1.Spec{}, err
	} else if len(jobs) > 0 {
		out.Status, out.LatestJob, out.LatestRevision = string(jobs[0].Status), jobs[0].ID, jobs[0].Revision
	}
	base, err := h.DB.GetBaseState(ctx, name)
	if err != nil {
		return apiv1.Spec{}, err
	}
	out.BaseUpdated = base.Update != ""
	return out, nil
}

// --- Specs -------------------------------------------------------------------

func (h *handler) apiListSpecs(c *fiber.Ctx) error {
	status := c.Query("status")
	if !slices.Contains(listStatuses, status) {
		return fiber.NewError(fiber.StatusBadRequest, locOf(c).T("api.badstatus", status, strings.Join(listStatuses[1:], ", ")))
	}
	limit := min(max(c.QueryInt("limit", specsPerPage), 1), 1000)
	res, err := h.DB.ListSpecsPage(c.UserContext(), db.SpecFilter{Query: strings.TrimSpace(c.Query("q")), Status: status, Limit: limit, Offset: max(c.QueryInt("offset", 0), 0)})
	if err != nil {
		return err
	}
	out := struct {
		Total int          `json:"total"`
		Specs []apiv1.Spec `json:"specs"`
	}{Total: res.Total, Specs: []apiv1.Spec{}}
	for _, s := range res.Specs {
		row := apiv1.Spec{ImageSpec: db.ImageSpec{Name: s.Name, BaseImage: s.BaseImage}, Image: s.Image, ActiveRevision: s.ActiveRevision, Pinned: s.Pinned,
			Status: string(s.Status), LatestJob: s.LatestJobID, LatestRevision: s.LatestRevision, BaseUpdated: s.BaseUpdated, UpdatedAt: timePtr(s.UpdatedAt)}
		out.Specs = append(out.Specs, row)
	}
	return c.JSON(out)
}

func (h *handler) apiGetSpec(c *fiber.Ctx) error {
	s, err := h.apiSpec(c, utils.CopyString(c.Params("name")))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(s.ImageSpec.Version()))
	return c.JSON(s)
}

// specBody reads a spec from the body; name, when given, must match the
// URL's.
func specBody(c *fiber.Ctx, name string) (db.ImageSpec, error) {
	var in db.ImageSpec
	if err := decodeJSON(c, &in); err != nil {
		return db.ImageSpec{}, err
	}
	in.Name = strings.TrimSpace(in.Name)
	if name != "" {
		if in.Name != "" && in.Name != name {
			return db.ImageSpec{}, spec.ValidationError{{Field: spec.FieldName, Message: msgf("the body names %q but the URL names %q; a spec cannot be renamed", in.Name, name)}}
		}
		in.Name = name
	}
	in.BaseImage = strings.TrimSpace(in.BaseImage)
	return in, nil
}

func (h *handler) specResult(c *fiber.Ctx, status int, name string, j *db.Job) error {
	s, err := h.apiSpec(c, name)
	if err != nil {
		return err
	}
	res := apiv1.SpecResult{Spec: s, Changed: j != nil}
	c.Set(fiber.HeaderETag, etag(s.ImageSpec.Version()))
	if j != nil {
		aj := apiJob(locOf(c), *j)
		res.Job = &aj
	}
	return c.Status(status).JSON(res)
}

func (h *handler) apiCreateSpec(c *fiber.Ctx) error {
	in, err := specBody(c, "")
	if err != nil {
		return err
	}
	_, j, err := h.Queue.Create(c.UserContext(), in)
	if err != nil {
		return err
	}
	c.Location("/api/v1/specs/" + in.Name)
	return h.specResult(c, fiber.StatusCreated, in.Name, &j)
}

// apiPutSpec creates or updates the spec; an update that changes nothing
// makes no revision. If-Match (the spec's ETag, from a GET) makes it an
// update of that version only: a spec changed since is refused with 412,
// as is any PUT with If-Match on a spec that does not exist, or with
// If-None-Match: * on one that does.
func (h *handler) apiPutSpec(c *fiber.Ctx) error {
	name := utils.CopyString(c.Params("name"))
	in, err := specBody(c, name)
	if err != nil {
		return err
	}
	ifMatch, ifNoneMatch := strings.TrimSpace(c.Get(fiber.HeaderIfMatch)), strings.TrimSpace(c.Get(fiber.HeaderIfNoneMatch))
	_, err = h.DB.GetSpec(c.UserContext(), name)
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, db.ErrNotFound):
		return err
	case ifMatch != "" && !exists:
		return preconditionFailed(c, "api.stale.missing", name)
	case ifNoneMatch == "*" && exists:
		return preconditionFailed(c, "api.stale.exists", name)
	}
	edit := db.Edit{Spec: in, Create: !exists}
	if ifMatch != "" && ifMatch != "*" {
		if edit.IfVersion = etagVersion(ifMatch); edit.IfVersion == "" {
			return fiber.NewError(fiber.StatusBadRequest, locOf(c).T("api.badetag", ifMatch))
		}
	}
	res, err := h.Queue.Save(c.UserContext(), edit)
	var stale *db.StaleError
	if errors.As(err, &stale) {
		return preconditionFailed(c, "api.stale", name, stale.Revision, stale.By)
	}
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	if !exists {
		status = fiber.StatusCreated
	}
	var j *db.Job
	if res.Changed {
		j = &res.Job
	}
	return h.specResult(c, status, name, j)
}

// etag is the ETag of a spec's version.
func etag(version string) string { return `"` + version + `"` }

// etagVersion reads one ETag (strong or weak) of If-Match back into a
// version, or "" when it is not one of ours.
func etagVersion(h string) string {
	h = strings.TrimPrefix(h, "W/")
	v := strings.Trim(h, `"`)
	if len(h) != len(v)+2 || !formKey.MatchString(v) {
		return ""
	}
	return v
}

// preconditionFailed answers 412 with the API's error body.
func preconditionFailed(c *fiber.Ctx, key string, args ...any) error {
	return c.Status(fiber.StatusPreconditionFailed).JSON(apiError{Code: "precondition-failed", Message: locOf(c).T(key, args...)})
}

func (h *handler) apiDeleteSpec(c *fiber.Ctx) error {
	name := utils.CopyString(c.Params("name"))
	if _, err := h.DB.GetSpec(c.UserContext(), name); err != nil {
		return err
	}
	if err := h.Queue.Delete(c.UserContext(), name); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// --- Jobs --------------------------------------------------------------------

// apiListJobs lists a spec's jobs (/specs/:name/jobs) or every job,
// newest first, in one status if asked, a page at a time (before: the
// last ID of the previous page).
func (h *handler) apiListJobs(c *fiber.Ctx) error {
	f := db.JobFilter{Spec: utils.CopyString(c.Params("name")), Status: db.Status(c.Query("status")),
		Limit: min(max(c.QueryInt("limit", 50), 1), 500)}
	if f.Status != "" && !f.Status.Valid() {
		return fiber.NewError(fiber.StatusBadRequest, locOf(c).T("api.badstatus", f.Status, "pending, building, succeeded, failed, cancelled"))
	}
	if b := c.Query("before"); b != "" {
		v, err := strconv.ParseInt(b, 10, 64)
		if err != nil || v <= 0 {
			return fiber.NewError(fiber.StatusBadRequest, locOf(c).T("api.badnumber", "before", b))
		}
		f.Before = v
	}
	if f.Spec != "" {
		if _, err := h.DB.GetSpec(c.UserContext(), f.Spec); err != nil {
			return err
		}
	}
	jobs, err := h.DB.FindJobs(c.UserContext(), f)
	if err != nil {
		return err
	}
	out := struct {
		Jobs []apiv1.Job `json:"jobs"`
		// Next is the before= of the next page (0: this is the last).
		Next int64 `json:"next,omitempty"`
	}{Jobs: []apiv1.Job{}}
	loc := locOf(c)
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, apiJob(loc, j))
	}
	if len(jobs) == f.Limit {
		out.Next = jobs[len(jobs)-1].ID
	}
	return c.JSON(out)
}

func (h *handler) apiGetJob(c *fiber.Ctx) error {
	j, err := h.jobFromParam(c)
	if err != nil {
		return err
	}
	return c.JSON(apiJob(locOf(c), j))
}

func (h *handler) apiCancelJob(c *fiber.Ctx) error {
	j, err := h.jobFromParam(c)
	if err != nil {
		return err
	}
	j, err = h.Queue.Cancel(c.UserContext(), j.ID)
	if err != nil {
		return err
	}
	return c.JSON(apiJob(locOf(c), j))
}

func (h *handler) apiRetryJob(c *fiber.Ctx) error {
	j, err := h.jobFromParam(c)
	if err != nil {
		return err
	}
	nj, err := h.Queue.Retry(c.UserContext(), j.ID)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(apiJob(locOf(c), nj))
}

// apiLogTail answers the last lines of a job's log (?lines=N, at most
// 10000) and the cursor to follow it from (events?from=cursor).
func (h *handler) apiLogTail(c *fiber.Ctx) error {
	j, err := h.jobFromParam(c)
	if err != nil {
		return err
	}
	n := c.QueryInt("lines", 100)
	if n < 1 || n > 10000 {
		return fiber.NewError(fiber.StatusBadRequest, locOf(c).T("api.badnumber", "lines", c.Query("lines")))
	}
	lines, _, end, err := h.Logs.Tail(j.ID, n)
	if err != nil {
		return err
	}
	if lines == nil {
		lines = []string{}
	}
	return c.JSON(struct {
		Status string   `json:"status"`
		Lines  []string `json:"lines"`
		Cursor int64    `json:"cursor"`
	}{string(j.Status), lines, end})
}

// --- Base images, pull secrets, registry -----------------------------------

// APIBaseImage is an Image Management entry.
type APIBaseImage struct {
	ID          int64  `json:"id,omitempty"`
	Name        string `json:"name"`
	Reference   string `json:"reference"`
	Description string `json:"description,omitempty"`
	PullSecret  string `json:"pullSecret,omitempty"`
}

func (h *handler) apiListBaseImages(c *fiber.Ctx) error {
	images, err := h.DB.ListBaseImages(c.UserContext())
	if err != nil {
		return err
	}
	out := []APIBaseImage{}
	for _, b := range images {
		out = append(out, APIBaseImage{ID: b.ID, Name: b.Name, Reference: b.Reference, Description: b.Description, PullSecret: b.PullSecret})
	}
	return c.JSON(out)
}

func (h *handler) apiCreateBaseImage(c *fiber.Ctx) error {
	var in APIBaseImage
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	in.ID = 0
	b := db.BaseImage{Name: strings.TrimSpace(in.Name), Reference: strings.TrimSpace(in.Reference), Description: strings.TrimSpace(in.Description), PullSecret: in.PullSecret}
	if err := h.checkBaseImage(c, b); err != nil {
		return err
	}
	saved, err := h.DB.SaveBaseImage(c.UserContext(), b)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(APIBaseImage{ID: saved.ID, Name: saved.Name, Reference: saved.Reference, Description: saved.Description, PullSecret: saved.PullSecret})
}

// checkBaseImage is every problem of an Image Management entry, by field.
func (h *handler) checkBaseImage(c *fiber.Ctx, b db.BaseImage) error {
	var errs spec.ValidationError
	if b.Name == "" {
		errs = append(errs, spec.FieldError{Field: "name", Message: msgf("a display name is required")})
	}
	if msg := spec.CheckImageReference(b.Reference); !msg.IsZero() {
		errs = append(errs, spec.FieldError{Field: "reference", Message: msg})
	}
	if msg, err := settings.CheckPullSecret(c.UserContext(), h.DB, b.PullSecret); err != nil {
		return err
	} else if !msg.IsZero() {
		errs = append(errs, spec.FieldError{Field: "pullSecret", Message: msg})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func (h *handler) apiDeleteBaseImage(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return fiber.NewError(fiber.StatusNotFound, locOf(c).T("api.badnumber", "id", c.Params("id")))
	}
	if err := h.DB.DeleteBaseImage(c.UserContext(), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *handler) apiListPullSecrets(c *fiber.Ctx) error {
	secrets, err := h.DB.ListPullSecrets(c.UserContext())
	if err != nil {
		return err
	}
	type row struct {
		Name      string    `json:"name"`
		CreatedAt time.Time `json:"createdAt"`
		UpdatedAt time.Time `json:"updatedAt"`
	}
	out := []row{}
	for _, s := range secrets {
		out = append(out, row{s.Name, s.CreatedAt, s.UpdatedAt})
	}
	return c.JSON(out)
}

// apiCreatePullSecret stores a pull secret (or replaces its content); the
// content is write-only.
func (h *handler) apiCreatePullSecret(c *fiber.Ctx) error {
	var in struct {
		Name    string `json:"name"`
		Content string `json:"content"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	name := strings.TrimSpace(in.Name)
	err := h.Settings.SavePullSecret(c.UserContext(), name, []byte(strings.TrimSpace(in.Content)))
	var fe spec.FieldError
	if errors.As(err, &fe) {
		return spec.ValidationError{fe}
	}
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(struct {
		Name string `json:"name"`
	}{name})
}

func (h *handler) apiDeletePullSecret(c *fiber.Ctx) error {
	if err := h.DB.DeletePullSecret(c.UserContext(), utils.CopyString(c.Params("name"))); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// APIRegistry is the push registry's settings, without the password.
type APIRegistry struct {
	External     bool   `json:"external"`
	Host         string `json:"host"`
	Username     string `json:"username,omitempty"`
	HasPassword  bool   `json:"hasPassword"`
	Insecure     bool   `json:"insecure"`
	EmbeddedHost string `json:"embeddedHost,omitempty"`
}

func (h *handler) apiGetRegistry(c *fiber.Ctx) error {
	rs, err := h.Settings.RegistrySettings(c.UserContext())
	if err != nil {
		return err
	}
	out := APIRegistry{External: rs.External, Host: h.Settings.Fallback().Host, HasPassword: rs.HasPassword(), Insecure: rs.Insecure, EmbeddedHost: h.Settings.Fallback().Host}
	if rs.External {
		out.Host, out.Username = rs.Host, rs.Username
	}
	return c.JSON(out)
}

// apiTestRegistry checks the saved push registry as the settings page's
// Test does.
func (h *handler) apiTestRegistry(c *fiber.Ctx) error {
	reg, err := h.Settings.Registry(c.UserContext())
	if err != nil {
		return err
	}
	out := struct {
		OK      bool   `json:"ok"`
		Host    string `json:"host"`
		Message string `json:"message,omitempty"`
	}{OK: true, Host: reg.Host}
	if err := registry.Check(c.UserContext(), reg, h.Settings.AllowLinkLocal); err != nil {
		out.OK, out.Message = false, say(locOf(c), err)
	}
	return c.JSON(out)
}

// apiOpenAPI serves the API's OpenAPI 3 document.
func (h *handler) apiOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(openAPIDocument)
}

// openAPIDocument describes every /api/v1 route (a test holds it to the
// routes).
//
//go:embed openapi.json
var openAPIDocument []byte

// msgf writes a message for people in the handlers' own checks; see
// package message.
func msgf(format string, args ...any) message.Message { return message.New(format, args...) }
