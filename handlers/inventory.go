package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"imagebuilder/builder/inventory"
	"imagebuilder/db"
	"imagebuilder/views"
)

// compareURL shows two revisions of a spec side by side.
func compareURL(name string, from, to int) string {
	return fmt.Sprintf("/specs/%s/compare?from=%d&to=%d", name, from, to)
}

// diffSummary is the recorded comparison of an inventory with the
// previous succeeded revision's (nil: none).
func diffSummary(name string, revision int, inv db.Inventory) *views.DiffSummary {
	if !inv.OK || inv.AgainstJob == 0 || inv.AgainstRevision == 0 { // 0: that revision was deleted since
		return nil
	}
	return &views.DiffSummary{Against: inv.AgainstRevision, Added: inv.Added, Removed: inv.Removed, Changed: inv.Changed,
		CompareURL: compareURL(name, inv.AgainstRevision, revision)}
}

// inventoryView is the Packages section of a succeeded job, its rows
// narrowed by the filter q (name or version) and type.
func (h *handler) inventoryView(ctx context.Context, j db.Job, q, typ string) (*views.InventoryView, error) {
	inv, ok, err := h.DB.GetInventory(ctx, j.ID)
	if err != nil {
		return nil, err
	}
	v := &views.InventoryView{JobID: j.ID, Query: q, Type: typ}
	switch {
	case !ok:
		v.Missing = true
		return v, nil
	case !inv.OK:
		v.Error = inv.Error
		return v, nil
	}
	if inv.CopiedFrom != 0 {
		if from, err := h.DB.GetJob(ctx, inv.CopiedFrom); err == nil {
			v.CopiedFromRevision = from.Revision
		}
	}
	v.Distro = strings.TrimSpace(inv.DistroID + " " + inv.DistroVersion)
	v.Total = len(inv.Packages)
	counts := inventory.Counts(inv.Packages)
	for _, t := range inventory.Types {
		if counts[t] > 0 {
			v.Counts = append(v.Counts, views.TypeCount{Type: t, N: counts[t]})
		}
	}
	v.Since = diffSummary(j.SpecName, j.Revision, inv)
	requested := inventory.Requested(j.Snapshot, inv.Packages)
	needle := strings.ToLower(q)
	for _, p := range inv.Packages {
		if typ != "" && p.Type != typ {
			continue
		}
		version := inventory.FullVersion(p)
		if needle != "" && !strings.Contains(strings.ToLower(p.Name), needle) && !strings.Contains(strings.ToLower(version), needle) {
			continue
		}
		v.Rows = append(v.Rows, views.PackageRow{Type: p.Type, Name: p.Name, Version: version, Location: p.Location, Requested: requested[inventory.Key(p)]})
	}
	// What the spec asked for comes first.
	slices.SortStableFunc(v.Rows, func(a, b views.PackageRow) int {
		switch {
		case a.Requested == b.Requested:
			return 0
		case a.Requested:
			return -1
		}
		return 1
	})
	pinned := inventory.Pin(j.Snapshot, j.BaseDigest, inv.Packages)
	v.Pinned = &views.PinnedView{Base: pinned.Spec.BaseImage, APT: pinned.Spec.APT, Conda: pinned.Spec.Conda, Pip: pinned.Spec.Pip, Unpinned: pinned.Unpinned}
	return v, nil
}

// packageRows is the filtered packages table body (the filter's htmx
// target).
func (h *handler) packageRows(c *fiber.Ctx) error {
	j, err := h.jobFromParam(c)
	if err != nil {
		return err
	}
	if j.Status != db.StatusSucceeded {
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("revision %d of %s has no image", j.Revision, j.SpecName))
	}
	v, err := h.inventoryView(c.UserContext(), j, c.Query("q"), c.Query("type"))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return views.PackageRows(h.layout(c, "", "builder").Loc, *v).Render(c.UserContext(), c)
}

// inventoryOf is a succeeded job's readable inventory, or a 404 that says
// why there is none.
func (h *handler) inventoryOf(c *fiber.Ctx) (db.Job, db.Inventory, error) {
	j, err := h.jobFromParam(c)
	if err != nil {
		return db.Job{}, db.Inventory{}, err
	}
	inv, ok, err := h.DB.GetInventory(c.UserContext(), j.ID)
	if err != nil {
		return db.Job{}, db.Inventory{}, err
	}
	if !ok || !inv.OK {
		return db.Job{}, db.Inventory{}, fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("revision %d of %s has no package inventory", j.Revision, j.SpecName))
	}
	return j, inv, nil
}

// download sends body as an attachment named after the job.
func download(c *fiber.Ctx, j db.Job, suffix, mime string, write func(io.Writer) error) error {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, mime)
	// The spec name is validated (lowercase letters, digits, '-', '.').
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s-revision-%d.%s"`, j.SpecName, j.Revision, suffix))
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(b.Bytes())
}

func (h *handler) sbom(c *fiber.Ctx, suffix string, write func(io.Writer, inventory.Subject, inventory.Inventory) error) error {
	j, inv, err := h.inventoryOf(c)
	if err != nil {
		return err
	}
	subj := inventory.Subject{Image: j.Image, Digest: j.Digest, Created: inv.ScannedAt}
	in := inventory.Inventory{DistroID: inv.DistroID, DistroVersion: inv.DistroVersion, Packages: inv.Packages}
	return download(c, j, suffix, fiber.MIMEApplicationJSONCharsetUTF8, func(w io.Writer) error { return write(w, subj, in) })
}

func (h *handler) sbomSPDX(c *fiber.Ctx) error { return h.sbom(c, "spdx.json", inventory.WriteSPDX) }
func (h *handler) sbomCycloneDX(c *fiber.Ctx) error {
	return h.sbom(c, "cdx.json", inventory.WriteCycloneDX)
}

// pinnedSpec is a succeeded revision's spec pinned to what it installed.
func (h *handler) pinnedSpec(c *fiber.Ctx) (db.Job, inventory.Pinned, error) {
	j, inv, err := h.inventoryOf(c)
	if err != nil {
		return db.Job{}, inventory.Pinned{}, err
	}
	return j, inventory.Pin(j.Snapshot, j.BaseDigest, inv.Packages), nil
}

// downloadPinned sends the pinned spec in the command line's spec format.
func (h *handler) downloadPinned(c *fiber.Ctx) error {
	j, pinned, err := h.pinnedSpec(c)
	if err != nil {
		return err
	}
	return download(c, j, "pinned.json", fiber.MIMEApplicationJSONCharsetUTF8, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(pinned.Spec)
	})
}

// rebuildPinned makes the pinned spec the spec's next revision.
func (h *handler) rebuildPinned(c *fiber.Ctx) error {
	_, pinned, err := h.pinnedSpec(c)
	if err != nil {
		return err
	}
	_, nj, err := h.Queue.Update(c.UserContext(), pinned.Spec)
	if err != nil {
		s := pinned.Spec
		form := views.SpecForm{Name: s.Name, BaseImage: s.BaseImage, UsePullSecret: s.PullSecret != "", PullSecret: s.PullSecret,
			APT: strings.Join(s.APT, "\n"), Conda: strings.Join(s.Conda, "\n"), Pip: strings.Join(s.Pip, "\n")}
		return h.formError(c, form, true, err)
	}
	return redirectAfterPost(c, fmt.Sprintf("/jobs/%d", nj.ID))
}

// compare shows two revisions of a spec side by side.
func (h *handler) compare(c *fiber.Ctx) error {
	ctx := c.UserContext()
	name := utils.CopyString(c.Params("name"))
	if _, err := h.DB.GetSpec(ctx, name); err != nil {
		return err
	}
	jobs, err := h.DB.ListJobs(ctx, name)
	if err != nil {
		return err
	}
	l := h.layout(c, "", "builder")
	l.Title = l.Loc.T("compare.title", name)
	v := views.CompareView{Layout: l, Name: name}
	byRevision := map[int]db.Job{}
	for _, j := range jobs {
		byRevision[j.Revision] = j
		if j.Status == db.StatusSucceeded {
			v.Revisions = append(v.Revisions, j.Revision)
		}
	}
	from, _ := strconv.Atoi(c.Query("from"))
	to, _ := strconv.Atoi(c.Query("to"))
	old, okOld := byRevision[from]
	cur, okNew := byRevision[to]
	if !okOld || !okNew {
		if c.Query("from") != "" || c.Query("to") != "" {
			v.Problem = l.Loc.T("compare.badrevision")
		}
		return render(c, fiber.StatusOK, l, views.CompareContent(v))
	}
	v.From, v.To, v.FromJob, v.ToJob = from, to, old.ID, cur.ID
	for _, sc := range inventory.SpecChanges(old.Snapshot, cur.Snapshot) {
		v.SpecChanges = append(v.SpecChanges, views.SpecChange{List: sc.List, Added: sc.Added, Removed: sc.Removed})
	}
	var invs [2]db.Inventory
	for i, j := range []db.Job{old, cur} {
		if j.Status != db.StatusSucceeded {
			v.Problem = l.Loc.T("compare.notsucceeded", j.Revision)
			break
		}
		inv, ok, err := h.DB.GetInventory(ctx, j.ID)
		if err != nil {
			return err
		}
		if !ok || !inv.OK {
			v.Problem = l.Loc.T("compare.noinventory", j.Revision)
			break
		}
		invs[i] = inv
	}
	if v.Problem == "" {
		v.Groups = diffGroups(inventory.Compare(invs[0].Packages, invs[1].Packages))
	}
	return render(c, fiber.StatusOK, l, views.CompareContent(v))
}

// diffGroups splits a diff by package type, in the order pages show types.
func diffGroups(d inventory.Diff) []views.DiffGroup {
	var out []views.DiffGroup
	row := func(p db.Package) views.PackageRow {
		return views.PackageRow{Type: p.Type, Name: p.Name, Version: inventory.FullVersion(p), Location: p.Location}
	}
	for _, t := range inventory.Types {
		g := views.DiffGroup{Type: t}
		for _, p := range d.Added {
			if p.Type == t {
				g.Added = append(g.Added, row(p))
			}
		}
		for _, p := range d.Removed {
			if p.Type == t {
				g.Removed = append(g.Removed, row(p))
			}
		}
		for _, ch := range d.Changed {
			if ch.New.Type == t {
				g.Changed = append(g.Changed, views.VersionChange{Name: ch.New.Name, Old: inventory.FullVersion(ch.Old), New: inventory.FullVersion(ch.New)})
			}
		}
		if len(g.Added)+len(g.Removed)+len(g.Changed) > 0 {
			out = append(out, g)
		}
	}
	return out
}
