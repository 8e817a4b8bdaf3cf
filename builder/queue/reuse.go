package queue

// Reuse: a revision whose content an earlier build already pushed is
// that image, retagged, not a new build.

import (
	"context"
	"io"

	"go.podman.io/image/v5/docker/reference"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/logs"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
)

// Reuser spares a build whose result exists: it resolves a base image's
// digest now, and tags an image already in the registry again.
type Reuser interface {
	ResolveBase(ctx context.Context, ref string, pullSecret []byte) (string, error)
	Retag(ctx context.Context, reg registry.Target, from, to string, log io.Writer) (int64, error)
}

// reuse records what the job builds (its content key) and, when a
// succeeded revision of the spec built the same content into the same
// registry and its image is still there, gives that image the job's tag
// instead of building. A rebuild (NoReuse) always builds. Any trouble on
// the way (the base cannot be resolved, the old image is gone) means a
// build, as without this.
func (q *Queue) reuse(ctx context.Context, job db.Job, req executor.Request, log *logs.JobLog) (executor.Outcome, int64, bool) {
	if q.cfg.Reuse == nil {
		return executor.Outcome{}, 0, false
	}
	dig, err := q.cfg.Reuse.ResolveBase(ctx, job.Snapshot.BaseImage, req.PullSecret)
	if err != nil {
		return executor.Outcome{}, 0, false // the build says what is wrong with the base
	}
	key := spec.ContentKey(job.Snapshot, dig, req.Sources)
	if err := q.db.SetJobContentKey(ctx, job.ID, key, dig); err != nil || job.NoReuse {
		return executor.Outcome{}, 0, false
	}
	prev, ok, err := q.db.SucceededJobWithKey(ctx, job.SpecName, key, job.ID)
	if err != nil || !ok || prev.Registry != req.Registry.Host || prev.Digest == "" {
		return executor.Outcome{}, 0, false
	}
	named, err := reference.ParseNormalizedNamed(prev.Image)
	if err != nil {
		return executor.Outcome{}, 0, false
	}
	target := req.Registry.Host + "/" + job.Snapshot.Name + ":" + req.Tag
	log.Printf("Image Builder: revision %d built the same spec on the same base image (%s): its image is reused, nothing is built", prev.Revision, dig)
	size, err := q.cfg.Reuse.Retag(ctx, req.Registry, reference.TrimNamed(named).String()+"@"+prev.Digest, target, io.Discard)
	if err != nil {
		log.Printf("Image Builder: the image of revision %d cannot be reused (%v); building", prev.Revision, err)
		return executor.Outcome{}, 0, false
	}
	if err := q.db.SetJobReusedFrom(ctx, job.ID, prev.ID); err != nil {
		log.Printf("Image Builder: warning: %v", err)
	}
	log.Printf("Image Builder: reused revision %d's image: %s@%s", prev.Revision, target, prev.Digest)
	return executor.Outcome{Image: target, Digest: prev.Digest, Size: size}, prev.ID, true
}
