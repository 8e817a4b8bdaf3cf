package plan_test

import (
	"slices"
	"testing"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/plan"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
)

func TestTheLastGoodBuildsStepsAreKeptOnlyWhereTheyServe(t *testing.T) {
	base := "registry.example/debian:12"
	prev := db.Job{Revision: 4, Snapshot: db.ImageSpec{BaseImage: base, APT: []string{"jq"}}, APTSteps: [][]string{{"jq"}}}
	now := db.ImageSpec{BaseImage: base, APT: []string{"jq", "curl"}}
	moved := now
	moved.BaseImage = "registry.example/debian:13"
	inProcess := executor.Capabilities{KeepsLayers: true, StepLimits: true}
	for _, tc := range []struct {
		name     string
		snapshot db.ImageSpec
		ok       bool
		can      executor.Capabilities
		keeps    bool
	}{
		{"in-process, same base", now, true, inProcess, true},
		{"no earlier build", now, false, inProcess, false},
		{"another base", moved, true, inProcess, false},
		{"a fresh pod keeps no layers", now, true, executor.Capabilities{}, false},
		{"layers but no step limits", now, true, executor.Capabilities{KeepsLayers: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := plan.For(tc.snapshot, prev, tc.ok, tc.can)
			if (p.PreviousAPT != nil) != tc.keeps || (p.Previous == 4) != tc.keeps {
				t.Fatalf("plan %+v", p)
			}
			steps := p.APTSteps(tc.snapshot)
			if tc.keeps {
				if !p.AddsAStep(steps) || !slices.Equal(steps[len(steps)-1], []string{"curl"}) {
					t.Fatalf("steps %v", steps)
				}
			} else if p.AddsAStep(steps) || len(steps) != 1 {
				t.Fatalf("steps %v", steps)
			}
			if opts := p.Options(spec.Sources{}); len(opts.PreviousAPT) != len(p.PreviousAPT) {
				t.Fatalf("options %+v", opts)
			}
		})
	}
}
