package handlers

import (
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"imagebuilder/views"
)

// auditPageSize is how many events one page of the audit log shows.
const auditPageSize = 100

// auditLog lists administrators' actions, newest first, optionally of one
// spec.
func (h *handler) auditLog(c *fiber.Ctx) error {
	spec := utils.CopyString(strings.TrimSpace(c.Query("spec")))
	page := max(c.QueryInt("page", 1), 1)
	events, err := h.DB.ListAudit(c.UserContext(), spec, auditPageSize+1, (page-1)*auditPageSize)
	if err != nil {
		return err
	}
	specs, err := h.DB.AuditSpecs(c.UserContext())
	if err != nil {
		return err
	}
	l := h.layout(c, "", "audit")
	l.Title = l.Loc.T("audit.title")
	v := views.AuditPage{Layout: l, Spec: spec, Specs: specs, Page: page, HasNext: len(events) > auditPageSize}
	names, err := h.DB.SpecNames(c.UserContext())
	if err != nil {
		return err
	}
	exists := map[string]bool{}
	for _, n := range names {
		exists[n] = true
	}
	for i, e := range events {
		if i == auditPageSize {
			break
		}
		v.Events = append(v.Events, views.AuditRow{At: e.At, Actor: e.Actor, Action: e.Action, Spec: e.Spec, JobID: e.JobID, Revision: e.Revision,
			SpecExists: exists[e.Spec], Target: e.Target, Detail: l.Loc.Msg(e.Detail.Format, anys(e.Detail.Args)...)})
	}
	return render(c, fiber.StatusOK, l, views.AuditContent(v))
}

// anys passes strings on as format arguments.
func anys(args []string) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
	}
	return out
}
