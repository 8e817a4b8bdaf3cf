package handlers

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"imagebuilder/builder/disk"
	"imagebuilder/builder/executor"
	"imagebuilder/builder/housekeeping"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/settings"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
	"imagebuilder/views"
)

// retentionForm shows a policy in the form.
func retentionForm(r db.Retention) views.RetentionForm {
	return views.RetentionForm{KeepSucceeded: strconv.Itoa(r.KeepSucceeded), KeepFailed: strconv.Itoa(r.KeepFailed), LogDays: strconv.Itoa(r.LogDays)}
}

// fillHousekeeping adds the usage, retention and runs to the Storage page.
func (h *handler) fillHousekeeping(c *fiber.Ctx, v *views.StoragePage) error {
	ctx := c.UserContext()
	loc := v.Loc
	if h.DataDir != "" {
		abs, _ := filepath.Abs(h.DataDir)
		if h.RegistryBytes != nil {
			v.Usage = append(v.Usage, views.UsageRow{Name: "usage.registry", Size: executor.HumanBytes(uint64(h.RegistryBytes())), Detail: filepath.Join(abs, "registry")})
		}
		if h.LayerCache != nil {
			n, size := h.LayerCache()
			v.Usage = append(v.Usage, views.UsageRow{Name: "usage.layer-cache", Size: executor.HumanBytes(uint64(size)),
				Detail: loc.N("usage.layer-cache.detail", n, registry.CachePrefix)})
		}
		v.Usage = append(v.Usage,
			views.UsageRow{Name: "usage.storage", Size: executor.HumanBytes(uint64(disk.TreeBytes(filepath.Join(abs, "storage")))), Detail: filepath.Join(abs, "storage")},
			views.UsageRow{Name: "usage.logs", Size: executor.HumanBytes(uint64(disk.TreeBytes(filepath.Join(abs, "logs")))), Detail: filepath.Join(abs, "logs")})
		var dbBytes int64
		for _, f := range []string{"imagebuilder.db", "imagebuilder.db-wal", "imagebuilder.db-shm"} {
			if st, err := os.Stat(filepath.Join(abs, f)); err == nil {
				dbBytes += st.Size()
			}
		}
		v.Usage = append(v.Usage, views.UsageRow{Name: "usage.database", Size: executor.HumanBytes(uint64(dbBytes)), Detail: filepath.Join(abs, "imagebuilder.db")})
	}
	largest, err := h.DB.LargestSpecs(ctx, 10)
	if err != nil {
		return err
	}
	for _, s := range largest {
		v.Largest = append(v.Largest, views.UsageRow{Name: s.Name, Size: executor.HumanBytes(uint64(s.Bytes)), Detail: strconv.Itoa(s.Images)})
	}
	if h.Housekeeping == nil {
		return nil
	}
	if v.Retention.Errors == nil {
		r, err := h.Settings.Retention(ctx)
		if err != nil {
			return err
		}
		saved := v.Retention.Saved
		v.Retention = retentionForm(r)
		v.Retention.Saved = saved
	}
	if v.Schedule.Errors == nil {
		sc, err := h.Settings.Schedule(ctx)
		if err != nil {
			return err
		}
		saved := v.Schedule.Saved
		v.Schedule = views.ScheduleForm{HousekeepingEvery: intervalText(sc.HousekeepingEvery), BaseCheckEvery: intervalText(sc.BaseCheckEvery),
			DeleteExternalTags: sc.DeleteExternalTags, Saved: saved}
	}
	if reg, err := h.Settings.Registry(ctx); err == nil && !reg.Own {
		v.Schedule.ExternalRegistry = reg.Host
	}
	runs, err := h.DB.HousekeepingRuns(ctx, 10)
	if err != nil {
		return err
	}
	for _, r := range runs {
		v.Runs = append(v.Runs, views.HousekeepingRow{At: views.At(r.StartedAt), Trigger: r.Trigger, Jobs: r.JobsDeleted, Logs: r.LogsDeleted,
			Tags: r.TagsDeleted, Blobs: r.BlobsDeleted, RegistryFreed: executor.HumanBytes(uint64(max(r.RegistryFreed, 0))),
			LogsFreed: executor.HumanBytes(uint64(max(r.LogsFreed, 0))), StorageFreed: executor.HumanBytes(uint64(max(r.StorageFreed, 0))), Error: r.Error})
	}
	if c.Query("housekept") == "1" && len(runs) > 0 {
		r := runs[0]
		v.RanNow = loc.T("housekeeping.ran", r.JobsDeleted, r.TagsDeleted, r.LogsDeleted, r.BlobsDeleted, executor.HumanBytes(uint64(max(r.RegistryFreed, 0))))
	}
	return nil
}

// parseRetentionForm reads the three fields, or says what is wrong with
// each, next to it.
func parseRetentionForm(c *fiber.Ctx, loc views.Loc) (db.Retention, views.RetentionForm, bool) {
	f := views.RetentionForm{KeepSucceeded: c.FormValue("keepSucceeded"), KeepFailed: c.FormValue("keepFailed"), LogDays: c.FormValue("logDays")}
	r, err := settings.ParseRetention(f.KeepSucceeded, f.KeepFailed, f.LogDays)
	if f.Errors = fieldErrors(loc, err); f.Errors != nil {
		return db.Retention{}, f, false
	}
	return r, f, true
}

// saveRetention stores the global default retention.
func (h *handler) saveRetention(c *fiber.Ctx) error {
	if h.Housekeeping == nil {
		return fiber.ErrNotFound
	}
	l := h.layout(c, "", "storage")
	r, form, ok := parseRetentionForm(c, l.Loc)
	if !ok {
		l.Title = l.Loc.T("storage.title")
		v := views.StoragePage{Layout: l, Retention: form}
		if err := h.fillStorage(c, &v); err != nil {
			return err
		}
		return render(c, fiber.StatusUnprocessableEntity, l, views.StorageContent(v))
	}
	if err := h.Settings.SaveRetention(c.UserContext(), r); err != nil {
		return err
	}
	return redirectAfterPost(c, "/settings/storage?retention=saved#retention")
}

// saveSchedule stores how often housekeeping and the base-image check
// run, and whether external tags are deleted.
func (h *handler) saveSchedule(c *fiber.Ctx) error {
	if h.Housekeeping == nil {
		return fiber.ErrNotFound
	}
	l := h.layout(c, "", "storage")
	f := views.ScheduleForm{HousekeepingEvery: c.FormValue("housekeepingEvery"), BaseCheckEvery: c.FormValue("baseCheckEvery"),
		DeleteExternalTags: c.FormValue("deleteExternalTags") == "1"}
	sc, err := settings.ParseSchedule(f.HousekeepingEvery, f.BaseCheckEvery, f.DeleteExternalTags)
	if errs := fieldErrors(l.Loc, err); errs != nil {
		f.Errors = errs
		l.Title = l.Loc.T("storage.title")
		v := views.StoragePage{Layout: l, Schedule: f}
		if err := h.fillStorage(c, &v); err != nil {
			return err
		}
		return render(c, fiber.StatusUnprocessableEntity, l, views.StorageContent(v))
	}
	if err := h.Settings.SaveSchedule(c.UserContext(), sc); err != nil {
		return err
	}
	return redirectAfterPost(c, "/settings/storage?schedule=saved#schedule")
}

// fieldErrors is a validation error's messages by field, in the
// request's language (nil when err is not one).
func fieldErrors(loc views.Loc, err error) map[string][]string {
	var verr spec.ValidationError
	if !errors.As(err, &verr) {
		return nil
	}
	out := map[string][]string{}
	for _, e := range verr {
		out[e.Field] = append(out[e.Field], loc.Msg(e.Message.Format, e.Message.Args...))
	}
	return out
}

// runHousekeeping runs retention and garbage collection now.
func (h *handler) runHousekeeping(c *fiber.Ctx) error {
	if h.Housekeeping == nil {
		return fiber.ErrNotFound
	}
	if _, err := h.Housekeeping.Run(c.UserContext(), housekeeping.TriggerButton); err != nil {
		h.Log.Warn("housekeeping", "err", err) // recorded with the run and shown on the page
	}
	return redirectAfterPost(c, "/settings/storage?housekept=1#housekeeping")
}

// specRetentionForm is the Jobs tab's retention form of a spec.
func (h *handler) specRetentionForm(c *fiber.Ctx, name string) (views.RetentionForm, error) {
	own, err := h.DB.SpecRetention(c.UserContext(), name)
	if err != nil || own != nil {
		if own == nil {
			return views.RetentionForm{}, err
		}
		return retentionForm(*own), nil
	}
	def, err := h.Settings.Retention(c.UserContext())
	f := retentionForm(def)
	f.Inherit = true
	return f, err
}

// saveSpecRetention gives a spec its own retention, or makes it follow
// the default.
func (h *handler) saveSpecRetention(c *fiber.Ctx) error {
	name := utils.CopyString(c.Params("name"))
	l := h.layout(c, "", "builder")
	if c.FormValue("inherit") == "1" {
		if err := h.DB.SetSpecRetention(c.UserContext(), name, nil); err != nil {
			return err
		}
		return redirectAfterPost(c, "/specs/"+name+"/jobs")
	}
	r, form, ok := parseRetentionForm(c, l.Loc)
	if !ok {
		return h.renderJobsTab(c, name, &form)
	}
	if err := h.DB.SetSpecRetention(c.UserContext(), name, &r); err != nil {
		return err
	}
	return redirectAfterPost(c, "/specs/"+name+"/jobs")
}

// intervalText writes an interval for the schedule form (0 for never).
func intervalText(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return shortDuration(d)
}

// shortDuration writes 1h for 1h0m0s and 1h30m for 1h30m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// apiHousekeeping runs retention and garbage collection now and answers
// what the run did.
func (h *handler) apiHousekeeping(c *fiber.Ctx) error {
	if h.Housekeeping == nil {
		return fiber.ErrNotFound
	}
	run, err := h.Housekeeping.Run(c.UserContext(), housekeeping.TriggerButton)
	if err != nil && run.StartedAt.IsZero() {
		return err
	}
	return c.JSON(struct {
		StartedAt     time.Time `json:"startedAt"`
		FinishedAt    time.Time `json:"finishedAt"`
		JobsDeleted   int       `json:"jobsDeleted"`
		LogsDeleted   int       `json:"logsDeleted"`
		TagsDeleted   int       `json:"tagsDeleted"`
		BlobsDeleted  int       `json:"blobsDeleted"`
		RegistryFreed int64     `json:"registryFreed"`
		LogsFreed     int64     `json:"logsFreed"`
		StorageFreed  int64     `json:"storageFreed"`
		Error         string    `json:"error,omitempty"`
	}{run.StartedAt, run.Finished, run.JobsDeleted, run.LogsDeleted, run.TagsDeleted, run.BlobsDeleted, run.RegistryFreed, run.LogsFreed, run.StorageFreed, strings.TrimSpace(run.Error)})
}
