package queue

// Base image updates: what the specs' bases point to now, and what each
// spec's policy does about a change.

import (
	"context"
	"errors"

	"imagebuilder/builder/logs"
	"imagebuilder/db"
)

// afterBaseUpdate clears a spec's "base image updated" once a revision
// built on the newer base succeeds, and makes a rebuild that the
// "activate" policy asked for the active revision.
func (q *Queue) afterBaseUpdate(ctx context.Context, job db.Job, log *logs.JobLog) {
	st, err := q.db.GetBaseState(ctx, job.SpecName)
	if err == nil && st.Update != "" && st.Update == job.BaseDigest {
		err = q.db.SetBaseChecked(ctx, job.SpecName, "")
	}
	if err == nil && job.ActivateOnSuccess {
		var sp db.Spec
		if sp, err = q.db.GetSpec(ctx, job.SpecName); err == nil && sp.ActiveJob != 0 {
			// A pinned spec moves to this revision; otherwise it is
			// the latest succeeded one, active already.
			if err = q.db.SetActiveJob(ctx, job.SpecName, job.ID); err == nil {
				log.Printf("Image Builder: revision %d, built on the updated base image, is now the active revision", job.Revision)
			}
		}
	}
	if err != nil {
		log.Printf("Image Builder: warning: %v", err)
	}
}

// BaseCheck is what a check of the specs' base images found.
type BaseCheck struct {
	Checked, Updated, Rebuilt int
	// Failed says, per spec, why its base image could not be resolved.
	Failed []string
}

// CheckBases resolves again the base image of every spec whose latest
// job succeeded (and none is queued or building), and where its digest
// changed acts on the spec's policy: wait (the spec shows "base image
// updated" until a Rebuild), rebuild, or rebuild and make the new
// revision active when it succeeds.
func (q *Queue) CheckBases(ctx context.Context) (BaseCheck, error) {
	var res BaseCheck
	if q.cfg.Reuse == nil {
		return res, errors.New("this builder cannot resolve base images")
	}
	names, err := q.db.SpecNames(ctx)
	if err != nil {
		return res, err
	}
	for _, name := range names {
		jobs, err := q.db.ListJobs(ctx, name)
		if err != nil {
			return res, err
		}
		if len(jobs) == 0 || jobs[0].Status != db.StatusSucceeded || jobs[0].BaseDigest == "" {
			continue // nothing built yet, a build on its way, or a failure to look at first
		}
		latest := jobs[0]
		_, secret, err := q.pullSecretFor(ctx, latest.Snapshot)
		var dig string
		if err == nil {
			dig, err = q.cfg.Reuse.ResolveBase(ctx, latest.Snapshot.BaseImage, secret)
		}
		if err != nil {
			res.Failed = append(res.Failed, name+": "+err.Error())
			continue
		}
		res.Checked++
		if dig == latest.BaseDigest {
			if err := q.db.SetBaseChecked(ctx, name, ""); err != nil {
				return res, err
			}
			continue
		}
		res.Updated++
		st, err := q.db.GetBaseState(ctx, name)
		if err != nil {
			return res, err
		}
		update := dig
		if st.Policy != db.BasePolicyWait {
			nj, err := q.Rebuild(ctx, latest.ID)
			if err != nil {
				res.Failed = append(res.Failed, name+": "+err.Error())
				continue
			}
			if st.Policy == db.BasePolicyActivate {
				if err := q.db.SetActivateOnSuccess(ctx, nj.ID); err != nil {
					return res, err
				}
			}
			res.Rebuilt++
			q.cfg.Log.Info("base image updated", "spec", name, "digest", dig, "policy", st.Policy, "job", nj.ID, "revision", nj.Revision)
		} else {
			q.cfg.Log.Info("base image updated", "spec", name, "digest", dig, "policy", st.Policy)
		}
		if err := q.db.SetBaseChecked(ctx, name, update); err != nil {
			return res, err
		}
	}
	return res, nil
}
