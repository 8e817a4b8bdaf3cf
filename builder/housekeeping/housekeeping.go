// Package housekeeping keeps a builder's disk bounded: retention (which of
// a spec's jobs, logs and revision tags stay) and garbage collection of
// the embedded registry, on a schedule and on demand, one run at a time,
// each run recorded with what it freed. It knows nothing of HTTP or of
// how builds run.
package housekeeping

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/logs"
	"imagebuilder/builder/registry"
	"imagebuilder/db"
)

// Registry is the embedded registry: tags to delete, garbage to collect.
type Registry interface {
	Untag(ctx context.Context, repo, tag string) error
	CollectGarbage(ctx context.Context) (registry.GCReport, error)
	// The layer caches of build pods (see registry.CacheRepository).
	CacheSpecs() ([]string, error)
	TrimCache(ctx context.Context, spec string, keep int) (int, error)
}

// Storage is a build host's image store.
type Storage interface {
	PruneStorage(keep []string, maxBytes int64) (executor.PruneReport, error)
}

// Keeper runs housekeeping.
type Keeper struct {
	DB   *db.DB
	Logs *logs.Store
	// Registry is the embedded registry, and RegistryHost its host as
	// jobs record it; jobs pushed anywhere else keep their tags (nil: no
	// tag is deleted and nothing is collected).
	Registry     Registry
	RegistryHost string
	// External is the external registry whose revision tags retention
	// and spec deletion may delete too, when the administrator allows it
	// (ok false, or nil: they stay there).
	External func(ctx context.Context) (reg registry.Target, ok bool, err error)
	// Default is the global retention.
	Default func(ctx context.Context) (db.Retention, error)
	// Storage is the in-process engine's image store, pruned beyond
	// StorageMax bytes (nil or 0: never pruned).
	Storage    Storage
	StorageMax int64
	// CacheKept is how many layer cache images each spec keeps (0:
	// DefaultCacheKept).
	CacheKept int
	Log       *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time

	mu sync.Mutex
}

// Triggers of a run.
const (
	TriggerSchedule = "schedule"
	TriggerButton   = "button"
)

// Plan says which of a spec's jobs (newest first) retention deletes and
// which kept jobs lose their log. The active revision is never deleted,
// nor a revision whose image a kept job reused, nor a job that has not
// finished.
func Plan(jobs []db.Job, r db.Retention, active int64, now time.Time) (del, dropLogs []db.Job) {
	protected := map[int64]bool{active: true}
	for {
		kept := map[int64]bool{}
		del = nil
		succeeded, failed := 0, 0
		for _, j := range jobs {
			switch j.Status {
			case db.StatusSucceeded:
				succeeded++
				if r.KeepSucceeded > 0 && succeeded > r.KeepSucceeded && !protected[j.ID] {
					del = append(del, j)
					continue
				}
			case db.StatusFailed, db.StatusCancelled:
				failed++
				if r.KeepFailed > 0 && failed > r.KeepFailed && !protected[j.ID] {
					del = append(del, j)
					continue
				}
			}
			kept[j.ID] = true
		}
		grew := false
		for _, j := range jobs {
			if kept[j.ID] && j.ReusedFrom != 0 && !protected[j.ReusedFrom] {
				protected[j.ReusedFrom], grew = true, true
			}
		}
		if !grew {
			break
		}
	}
	if r.LogDays > 0 {
		deleted := map[int64]bool{}
		for _, j := range del {
			deleted[j.ID] = true
		}
		cutoff := now.Add(-time.Duration(r.LogDays) * 24 * time.Hour)
		for _, j := range jobs {
			if !deleted[j.ID] && j.Status.Finished() && !j.LogRemoved && !j.FinishedAt.IsZero() && j.FinishedAt.Before(cutoff) {
				dropLogs = append(dropLogs, j)
			}
		}
	}
	return del, dropLogs
}

// Run applies every spec's retention, then collects the embedded
// registry's garbage, and records the run.
func (k *Keeper) Run(ctx context.Context, trigger string) (db.HousekeepingRun, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now
	if k.Now != nil {
		now = k.Now
	}
	run := db.HousekeepingRun{StartedAt: now(), Trigger: trigger}
	err := k.retain(ctx, &run, now())
	if k.Registry != nil {
		gc, gcErr := k.Registry.CollectGarbage(ctx)
		run.BlobsDeleted, run.RegistryFreed = gc.BlobsBefore-gc.BlobsAfter, gc.Freed()
		err = errors.Join(err, gcErr)
	}
	if k.Storage != nil && k.StorageMax > 0 {
		freed, pruneErr := k.prune(ctx)
		run.StorageFreed = freed
		err = errors.Join(err, pruneErr)
	}
	run.Finished = now()
	if err != nil {
		run.Error = err.Error()
	}
	if recErr := k.DB.RecordHousekeeping(context.WithoutCancel(ctx), run); recErr != nil {
		err = errors.Join(err, recErr)
	}
	if k.Log != nil {
		k.Log.Info("housekeeping", "trigger", trigger, "jobs_deleted", run.JobsDeleted, "logs_deleted", run.LogsDeleted,
			"tags_deleted", run.TagsDeleted, "blobs_deleted", run.BlobsDeleted, "registry_freed", run.RegistryFreed,
			"storage_freed", run.StorageFreed, "error", run.Error)
	}
	return run, err
}

// retain applies each spec's retention.
func (k *Keeper) retain(ctx context.Context, run *db.HousekeepingRun, now time.Time) error {
	def, err := k.Default(ctx)
	if err != nil {
		return err
	}
	names, err := k.DB.SpecNames(ctx)
	if err != nil {
		return err
	}
	tags, err := k.tagDeleter(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if err := k.retainSpec(ctx, name, def, tags, run, now); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if err := k.trimCaches(ctx, names, run); err != nil {
		errs = append(errs, fmt.Errorf("layer caches: %w", err))
	}
	return errors.Join(errs...)
}

// tagDeleter deletes a job's revision tag where housekeeping may (the
// embedded registry; the external one when allowed) and says false for a
// job pushed anywhere else, whose tag stays.
type tagDeleter func(ctx context.Context, j db.Job, tag string) (bool, error)

// external is the external registry whose tags housekeeping may delete,
// when there is one.
func (k *Keeper) external(ctx context.Context) (registry.Target, bool, error) {
	if k.External == nil {
		return registry.Target{}, false, nil
	}
	return k.External(ctx)
}

func (k *Keeper) tagDeleter(ctx context.Context) (tagDeleter, error) {
	ext, extOK, err := k.external(ctx)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, j db.Job, tag string) (bool, error) {
		switch {
		case k.Registry != nil && j.Registry == k.RegistryHost:
			return true, k.Registry.Untag(ctx, j.SpecName, tag)
		case extOK && j.Registry == ext.Host:
			return true, registry.DeleteTag(ctx, ext, j.Registry+"/"+j.SpecName+":"+tag)
		}
		return false, nil
	}, nil
}

func (k *Keeper) retainSpec(ctx context.Context, name string, def db.Retention, deleteTag tagDeleter, run *db.HousekeepingRun, now time.Time) error {
	r := def
	if own, err := k.DB.SpecRetention(ctx, name); err != nil {
		return err
	} else if own != nil {
		r = *own
	}
	jobs, err := k.DB.ListJobs(ctx, name)
	if err != nil {
		return err
	}
	active, _, _, err := k.DB.ActiveJob(ctx, name)
	if err != nil {
		return err
	}
	del, dropLogs := Plan(jobs, r, active.ID, now)
	var ids []int64
	var errs []error
	for _, j := range del {
		// The revision's tag goes first: a job whose tag cannot be
		// deleted stays, so a later run tries again.
		if j.Status == db.StatusSucceeded {
			deleted, err := deleteTag(ctx, j, strconv.Itoa(j.Revision))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if deleted {
				run.TagsDeleted++
			}
		}
		ids = append(ids, j.ID)
	}
	n, err := k.DB.DeleteJobs(ctx, ids)
	run.JobsDeleted += n
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, id := range ids {
		run.LogsFreed += k.removeLog(id, &errs)
		run.LogsDeleted++
	}
	for _, j := range dropLogs {
		run.LogsFreed += k.removeLog(j.ID, &errs)
		if err := k.DB.MarkLogRemoved(ctx, j.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		run.LogsDeleted++
	}
	return errors.Join(errs...)
}

// removeLog removes a job's log and returns its size.
func (k *Keeper) removeLog(id int64, errs *[]error) int64 {
	var size int64
	if st, err := os.Stat(k.Logs.Path(id)); err == nil {
		size = st.Size()
	}
	if err := k.Logs.Remove(id); err != nil {
		*errs = append(*errs, err)
		return 0
	}
	return size
}

// prune keeps the image store under StorageMax, keeping each spec's
// latest and active revisions' images (and so their layer cache) and
// their base images; with builds running it waits for the next run.
func (k *Keeper) prune(ctx context.Context) (int64, error) {
	names, err := k.DB.SpecNames(ctx)
	if err != nil {
		return 0, err
	}
	var keep []string
	for _, name := range names {
		if j, ok, err := k.DB.LastSucceededJob(ctx, name, 0); err != nil {
			return 0, err
		} else if ok {
			keep = append(keep, j.Image, j.Snapshot.BaseImage)
		}
		if j, _, ok, err := k.DB.ActiveJob(ctx, name); err != nil {
			return 0, err
		} else if ok {
			keep = append(keep, j.Image, j.Snapshot.BaseImage)
		}
		if sp, err := k.DB.GetSpec(ctx, name); err == nil {
			keep = append(keep, sp.BaseImage)
		}
	}
	rep, err := k.Storage.PruneStorage(keep, k.StorageMax)
	if errors.Is(err, executor.ErrBuildsRunning) {
		return 0, nil
	}
	return rep.Before - rep.After, err
}

// ForgetSpec deletes the tags of a deleted spec's revisions (and its
// alias) in the embedded registry, and in the external one when allowed,
// so a collection can free its images.
func (k *Keeper) ForgetSpec(ctx context.Context, name string, jobs []db.Job) error {
	deleteTag, err := k.tagDeleter(ctx)
	if err != nil {
		return err
	}
	var errs []error
	aliases := map[string]bool{}
	for _, j := range jobs {
		if j.Status != db.StatusSucceeded {
			continue
		}
		j.SpecName = name
		if !aliases[j.Registry] {
			aliases[j.Registry] = true
			_, err := deleteTag(ctx, j, db.AliasTag)
			errs = append(errs, err)
		}
		_, err := deleteTag(ctx, j, strconv.Itoa(j.Revision))
		errs = append(errs, err)
	}
	// Its layer cache (build pods') goes too.
	if k.Registry != nil {
		_, err := k.Registry.TrimCache(ctx, name, 0)
		errs = append(errs, err)
	}
	if ext, ok, err := k.external(ctx); err != nil || ok {
		if err == nil {
			_, err = registry.DeleteRepositoryTags(ctx, ext, ext.Host+"/"+registry.CacheRepository(name))
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// DefaultCacheKept is how many layer cache images (see
// registry.CacheRepository) each spec keeps in the embedded registry when
// Keeper.CacheKept is 0: a build's new steps make one each, so this is the
// steps of its last dozens of builds.
const DefaultCacheKept = 64

// trimCaches keeps each spec's layer cache to its newest images
// (Keeper.CacheKept) and drops the caches of specs that no longer exist.
func (k *Keeper) trimCaches(ctx context.Context, names []string, run *db.HousekeepingRun) error {
	if k.Registry == nil {
		return nil
	}
	specs, err := k.Registry.CacheSpecs()
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range specs {
		keep := 0
		if slices.Contains(names, s) {
			keep = cmp.Or(k.CacheKept, DefaultCacheKept)
		}
		n, err := k.Registry.TrimCache(ctx, s, keep)
		run.TagsDeleted += n
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
