// Package plan decides what one build builds beyond its spec: which of
// the spec's last good build's APT steps it keeps (so their cached layers
// serve again). It is a pure function of the spec, the spec's last
// succeeded build and what the executor can do, used by the queue before a
// build and by the form's Containerfile preview, so that the preview shows
// what Confirm builds.
package plan

import (
	"imagebuilder/builder/executor"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
)

// Plan is what For decided.
type Plan struct {
	// PreviousAPT are the APT steps kept from Previous (see spec.PlanAPT);
	// nil for none.
	PreviousAPT [][]string
	// Previous is the revision whose steps are kept (0 for none).
	Previous int
}

// For plans a build of snapshot. previous is the spec's last succeeded
// build, when ok. Its APT steps are kept only when it was built on the same
// base image and the executor's builds start with earlier layers: a fresh
// pod has none, and keeping steps would only cost more.
func For(snapshot db.ImageSpec, previous db.Job, ok bool, can executor.Capabilities) Plan {
	var p Plan
	if ok && can.KeepsLayers && previous.Snapshot.BaseImage == snapshot.BaseImage {
		p.PreviousAPT, p.Previous = previous.APTSteps, previous.Revision
	}
	return p
}

// Options are the Containerfile options of the plan, with sources.
func (p Plan) Options(sources spec.Sources) spec.Options {
	return spec.Options{Sources: sources, PreviousAPT: p.PreviousAPT}
}

// APTSteps are the APT steps snapshot builds in by this plan.
func (p Plan) APTSteps(snapshot db.ImageSpec) [][]string {
	return spec.APTSteps(snapshot, spec.Options{PreviousAPT: p.PreviousAPT})
}

// AddsAStep reports whether the plan keeps the previous APT steps and adds
// one more for the packages added since (steps is APTSteps' answer).
func (p Plan) AddsAStep(steps [][]string) bool {
	return len(steps) > 1 && len(steps) > len(p.PreviousAPT)
}
