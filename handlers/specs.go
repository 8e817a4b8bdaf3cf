package handlers

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

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
		if s.Status == db.StatusFailed {
			row.Failure = s.Failure
		}
		if s.Pinned {
			row.PinnedRevision = s.ActiveRevision
		}
		v.Rows = append(v.Rows, row)
	}
	return render(c, fiber.StatusOK, l, views.SpecListContent(v))
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
		if j.Status == db.StatusFailed {
			v.Jobs[len(v.Jobs)-1].Failure = j.Failure
		}
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
	name := utils.CopyString(c.Params("name"))
	if err := h.Queue.Delete(c.UserContext(), name); err != nil {
		return err
	}
	if err := h.setFlash(c, flash{Kind: flashOK, Key: "delete.done", Args: []string{name}}); err != nil {
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
	if err := h.DB.Audit(c.UserContext(), db.AuditEvent{Action: db.ActionCheckBases,
		Detail: db.Describe("checked %s, changed %s, rebuilt %s, failed %s", res.Checked, res.Updated, res.Rebuilt, len(res.Failed))}); err != nil {
		return err
	}
	return redirectAfterPost(c, fmt.Sprintf("/specs?checked=%d&updated=%d&rebuilt=%d&failed=%d", res.Checked, res.Updated, res.Rebuilt, len(res.Failed)))
}
