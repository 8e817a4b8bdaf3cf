package diagnosis

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"imagebuilder/builder/executor"
	"imagebuilder/db/failure"
)

// What each package tool's error line is diagnosed as. pip and conda
// cannot run here (no index, no channel), so their lines are the tools'
// own wording, quoted.
func TestDiagnose(t *testing.T) {
	apt := &executor.StepError{Step: executor.StepAPT, Status: 100, Err: errors.New("exit status 100")}
	pip := &executor.StepError{Step: executor.StepPip, Status: 1, Err: errors.New("exit status 1")}
	conda := &executor.StepError{Step: executor.StepConda, Status: 1, Err: errors.New("exit status 1")}
	// The same step failure as a build pod reports it.
	_, fromPod := executor.DecodeResult(executor.EncodeResult(executor.Outcome{}, apt))
	step := func(step, status, line string) *failure.Failure {
		f := &failure.Failure{Reason: failure.StepFailed, Args: []string{step, status}}
		if line != "" {
			f.Lines = []string{line}
		}
		return f
	}
	named := func(r failure.Reason, line string, args ...string) *failure.Failure {
		return &failure.Failure{Reason: r, Args: args, Lines: []string{line}}
	}
	for _, c := range []struct {
		name  string
		err   error
		lines []string
		want  *failure.Failure
	}{
		{"no error", nil, nil, nil},
		{"not a step", &executor.BaseNotFoundError{Image: "r/b:1"}, []string{"E: Unable to locate package x"},
			&failure.Failure{Reason: failure.BaseNotFound, Args: []string{"r/b:1"}}},
		{"anything else", errors.New("boom"), nil, &failure.Failure{Reason: failure.Other}},
		{"a step that said nothing telling", apt, []string{"Reading package lists...", "Done"}, step("apt", "100", "")},
		{"a step whose tool said something unnamed", apt, []string{"E: Some index files failed to download"}, step("apt", "100", "E: Some index files failed to download")},
		{"apt: no such package", apt, []string{"Reading package lists...", "E: Unable to locate package nope", "done"},
			named(failure.APTNotFound, "E: Unable to locate package nope", "nope")},
		{"apt: the same from a pod", fromPod, []string{"E: Unable to locate package nope"},
			named(failure.APTNotFound, "E: Unable to locate package nope", "nope")},
		{"apt: no candidate", apt, []string{"E: Package 'python' has no installation candidate"},
			named(failure.APTNotFound, "E: Package 'python' has no installation candidate", "python")},
		{"apt: no such version", apt, []string{"E: Version '0.0-x' for 'jq' was not found"},
			named(failure.APTVersion, "E: Version '0.0-x' for 'jq' was not found", "jq", "0.0-x")},
		{"apt: no apt-get", apt, []string{"Image Builder: the base image has no apt-get, so APT packages cannot be installed; …"},
			named(failure.APTMissing, "the base image has no apt-get, so APT packages cannot be installed; …")},
		{"pip: no match", pip, []string{"ERROR: No matching distribution found for requests==99.0"},
			named(failure.PipNoMatch, "ERROR: No matching distribution found for requests==99.0", "requests==99.0")},
		{"pip: a conflict with its sides", pip, []string{
			"ERROR: Cannot install a==1.0 and b==2.0 because these package versions have conflicting dependencies.",
			"", "The conflict is caused by:", "    a 1.0 depends on c<1", "    b 2.0 depends on c>=1", "",
			"ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/"},
			named(failure.PipConflict, "ERROR: Cannot install a==1.0 and b==2.0 because these package versions have conflicting dependencies.",
				"a==1.0 and b==2.0 (a 1.0 depends on c<1; b 2.0 depends on c>=1)")},
		{"pip: impossible, nothing named", pip, []string{"ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/"},
			named(failure.PipConflict, "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/", "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/")},
		{"pip: externally managed", pip, []string{"error: externally-managed-environment", "", "× This environment is externally managed"},
			named(failure.PipManaged, "error: externally-managed-environment")},
		{"pip: no pip", pip, []string{"Image Builder: the base image has no pip, so Pip packages cannot be installed"},
			named(failure.PipMissing, "the base image has no pip, so Pip packages cannot be installed")},
		{"conda: no conda", conda, []string{"Image Builder: the base image has no conda, mamba or micromamba"},
			named(failure.CondaMissing, "the base image has no conda, mamba or micromamba")},
		{"conda: not found", conda, []string{"PackagesNotFoundError: The following packages are not available from current channels:"},
			named(failure.CondaNotFound, "PackagesNotFoundError: The following packages are not available from current channels:")},
		{"conda: unsatisfiable", conda, []string{"Could not solve for environment specs"},
			named(failure.CondaUnsat, "Could not solve for environment specs")},
	} {
		got := Diagnose(c.err, c.lines)
		if got != nil {
			got.Message = "" // said in English below
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got  %s\n want %s", c.name, show(got), show(c.want))
		}
	}
}

// The English message names the step and quotes the tool, or says the log
// shows why.
func TestDiagnoseSaysItInEnglish(t *testing.T) {
	apt := &executor.StepError{Step: executor.StepAPT, Status: 100}
	if got := Diagnose(apt, []string{"E: Unable to locate package nope"}).Message; got != "the APT step failed (exit status 100): E: Unable to locate package nope" {
		t.Errorf("quoted: %q", got)
	}
	if got := Diagnose(apt, nil).Message; got != "the APT step failed (exit status 100); the log shows why" {
		t.Errorf("unquoted: %q", got)
	}
}

func show(f *failure.Failure) string {
	if f == nil {
		return "no failure"
	}
	return fmt.Sprintf("%q %q %q", f.Reason, f.Args, f.Lines)
}
