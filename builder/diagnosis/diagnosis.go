// Package diagnosis names why a build failed. Diagnose is a pure function
// of the error an executor returned and the build log's last lines: the
// failure the error carries (failure.Of), and, for a package step that
// failed, what the tool's own error line says went wrong (a package not
// found, a version conflict, a missing tool), with that line quoted. The
// same function serves builds in this process and in a pod, since both
// end in the same failure and the same log.
package diagnosis

import (
	"fmt"
	"regexp"
	"strings"

	"imagebuilder/builder/executor"
	"imagebuilder/db/failure"
)

// Diagnose is the failure err means, read with the log's last lines; nil
// for a nil err.
func Diagnose(err error, lastLines []string) *failure.Failure {
	f := failure.Of(err)
	if f == nil || f.Reason != failure.StepFailed {
		return f
	}
	var step, status string
	if len(f.Args) > 0 {
		step = f.Args[0]
	}
	if len(f.Args) > 1 {
		status = f.Args[1]
	}
	out := &failure.Failure{Reason: failure.StepFailed, Args: []string{step, status}}
	line := telling(lastLines)
	if line == "" {
		out.Message = fmt.Sprintf("%s failed (exit status %s); the log shows why", executor.StepName(step), status)
		return out
	}
	out.Message = fmt.Sprintf("%s failed (exit status %s): %s", executor.StepName(step), status, line)
	out.Lines = []string{line}
	if code, args := diagnose(line); code != "" {
		if code == failure.PipConflict && len(args) == 1 && args[0] != line {
			if sides := conflictSides(lastLines); sides != "" {
				args[0] += " (" + sides + ")"
			}
		}
		out.Reason, out.Args = code, args
	}
	return out
}

// diagnoses name what a package tool's error line says went wrong. The
// patterns read the tools' own messages (apt-get, pip, conda, and the
// fixed scripts' "Image Builder:" lines); the first group, when any, is
// the argument.
var diagnoses = []struct {
	re     *regexp.Regexp
	reason failure.Reason
}{
	{regexp.MustCompile(`^E: Unable to locate package (\S+)`), failure.APTNotFound},
	{regexp.MustCompile(`^E: Package '([^']+)' has no installation candidate`), failure.APTNotFound},
	{regexp.MustCompile(`^E: Version '([^']+)' for '([^']+)' was not found`), failure.APTVersion},
	{regexp.MustCompile(`^the base image has no apt-get`), failure.APTMissing},
	{regexp.MustCompile(`^ERROR: No matching distribution found for (.+)$`), failure.PipNoMatch},
	{regexp.MustCompile(`^ERROR: Cannot install (.+) because these package versions have conflicting dependencies`), failure.PipConflict},
	{regexp.MustCompile(`^ERROR: ResolutionImpossible`), failure.PipConflict},
	{regexp.MustCompile(`^error: externally-managed-environment`), failure.PipManaged},
	{regexp.MustCompile(`^the base image has no pip`), failure.PipMissing},
	{regexp.MustCompile(`^the base image has no conda, mamba or micromamba`), failure.CondaMissing},
	{regexp.MustCompile(`^PackagesNotFoundError`), failure.CondaNotFound},
	{regexp.MustCompile(`^(?:UnsatisfiableError|LibMambaUnsatisfiableError|Could not solve for environment specs)`), failure.CondaUnsat},
}

// diagnose names the failure a tool's error line describes, with its
// arguments, or returns "".
func diagnose(line string) (failure.Reason, []string) {
	for _, d := range diagnoses {
		if m := d.re.FindStringSubmatch(line); m != nil {
			args := m[1:]
			if d.reason == failure.APTVersion {
				args = []string{m[2], m[1]} // package, then version
			}
			if d.reason == failure.PipConflict && len(args) == 0 {
				args = []string{line}
			}
			if len(args) == 0 {
				args = nil
			}
			return d.reason, args
		}
	}
	return "", nil
}

// telling picks the last output line that reads like an error message.
func telling(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "ERROR: ResolutionImpossible") {
			// pip ends a conflict with a link; the line naming the
			// packages comes a few lines before it.
			for j := i - 1; j >= 0 && j >= i-40; j-- {
				if p := strings.TrimSpace(lines[j]); strings.HasPrefix(p, "ERROR: Cannot install ") {
					return p
				}
			}
		}
		switch {
		case strings.HasPrefix(l, "Image Builder: the base image"),
			strings.HasPrefix(l, "E: "),
			strings.HasPrefix(l, "ERROR: "),
			strings.HasPrefix(l, "error: "),
			strings.HasPrefix(l, "PackagesNotFoundError"),
			strings.HasPrefix(l, "UnsatisfiableError"),
			strings.HasPrefix(l, "LibMambaUnsatisfiableError"),
			strings.HasPrefix(l, "Could not solve for environment specs"):
			return strings.TrimPrefix(l, "Image Builder: ")
		}
	}
	return ""
}

// conflictSides is pip's "The conflict is caused by:" list, one line:
// which requirement of which package stands against which.
func conflictSides(lines []string) string {
	var sides []string
	for i, l := range lines {
		if strings.TrimSpace(l) != "The conflict is caused by:" {
			continue
		}
		sides = nil
		for _, next := range lines[i+1:] {
			t := strings.TrimSpace(next)
			if !strings.Contains(t, " depends on ") {
				break
			}
			sides = append(sides, t)
		}
	}
	return strings.Join(sides, "; ")
}
