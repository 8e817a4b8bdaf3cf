package queue

// The active revision and the alias tag that follows it.

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.podman.io/image/v5/docker/reference"

	"imagebuilder/db"
)

// Activate makes a succeeded revision (its job) the spec's active one, or
// with 0 the latest succeeded revision, and moves the spec's alias tag.
func (q *Queue) Activate(ctx context.Context, name string, jobID int64) error {
	if err := q.db.SetActiveJob(ctx, name, jobID); err != nil {
		return err
	}
	_, err := q.SyncAlias(ctx, name)
	return err
}

// SetAlias turns the spec's <name>:active tag on or off, and puts it on
// the active revision when on.
func (q *Queue) SetAlias(ctx context.Context, name string, on bool) error {
	if err := q.db.SetAliasTag(ctx, name, on); err != nil {
		return err
	}
	if !on {
		return q.db.SetAliasDigest(ctx, name, "")
	}
	_, err := q.SyncAlias(ctx, name)
	return err
}

// SyncAlias puts the spec's alias tag (<name>:active) on its active
// revision's image when the alias is on and points elsewhere, and returns
// the tag it moved ("" when nothing moved). Revision tags never move.
func (q *Queue) SyncAlias(ctx context.Context, name string) (string, error) {
	sp, err := q.db.GetSpec(ctx, name)
	if err != nil || !sp.AliasTag {
		return "", err
	}
	active, _, ok, err := q.db.ActiveJob(ctx, name)
	if err != nil || !ok || active.Digest == sp.AliasDigest {
		return "", err
	}
	if q.cfg.Reuse == nil {
		return "", errors.New("this builder cannot tag images")
	}
	reg, err := q.registryFor(ctx, active)
	if err != nil {
		return "", err
	}
	if current, err := q.currentHost(ctx); err != nil || current != active.Registry {
		return "", fmt.Errorf("revision %d was pushed to %s, not to the registry builds push to now", active.Revision, active.Registry)
	}
	named, err := reference.ParseNormalizedNamed(active.Image)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", active.Image, err)
	}
	to := reg.Host + "/" + name + ":" + db.AliasTag
	if _, err := q.cfg.Reuse.Retag(ctx, reg, reference.TrimNamed(named).String()+"@"+active.Digest, to, io.Discard); err != nil {
		return "", err
	}
	if err := q.db.SetAliasDigest(ctx, name, active.Digest); err != nil {
		return "", err
	}
	q.cfg.Log.Info("alias moved", "spec", name, "tag", to, "revision", active.Revision, "digest", active.Digest)
	return to, nil
}
