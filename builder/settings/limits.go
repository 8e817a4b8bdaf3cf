package settings

import (
	"context"
	"encoding/json"
	"fmt"
	"imagebuilder/db"
	"runtime"
	"strconv"
	"strings"

	"github.com/docker/go-units"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/spec"
)

const limitsSettingKey = "build-limits"

// Fields of the build limits form.
const (
	FieldMemory = "memory"
	FieldCPUs   = "cpus"
)

// BuildLimits are the limits each new build's steps get: the stored ones,
// else the server's defaults (DefaultLimits).
func (s *Settings) BuildLimits(ctx context.Context) (executor.Limits, error) {
	raw, ok, err := s.db.GetSetting(ctx, limitsSettingKey)
	if err != nil || !ok {
		return s.DefaultLimits, err
	}
	var l executor.Limits
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		return executor.Limits{}, fmt.Errorf("stored build limits: %w", err)
	}
	return l, nil
}

// ParseLimits reads the form's memory ("4GiB", "512m"; empty: none) and
// CPUs ("1.5"; empty: none).
func ParseLimits(memory, cpus string) (executor.Limits, error) {
	var l executor.Limits
	var errs spec.ValidationError
	if m := strings.TrimSpace(memory); m != "" && m != "0" {
		n, err := units.RAMInBytes(m)
		switch {
		case err != nil:
			errs = append(errs, spec.FieldError{Field: FieldMemory, Message: msgf("%q is not a size such as 4GiB or 512MiB", m)})
		case n < 64<<20:
			errs = append(errs, spec.FieldError{Field: FieldMemory, Message: msgf("at least 64MiB: package managers need room")})
		default:
			l.Memory = n
		}
	}
	if c := strings.TrimSpace(cpus); c != "" && c != "0" {
		n, err := strconv.ParseFloat(c, 64)
		switch {
		case err != nil || n < 0.1:
			errs = append(errs, spec.FieldError{Field: FieldCPUs, Message: msgf("%q is not a number of CPUs of at least 0.1", c)})
		case n > float64(runtime.NumCPU()):
			errs = append(errs, spec.FieldError{Field: FieldCPUs, Message: msgf("this machine has %d CPUs", runtime.NumCPU())})
		default:
			l.CPUs = n
		}
	}
	if len(errs) > 0 {
		return executor.Limits{}, errs
	}
	return l, nil
}

// SaveBuildLimits stores the limits for new builds.
func (s *Settings) SaveBuildLimits(ctx context.Context, l executor.Limits) error {
	raw, err := json.Marshal(l)
	if err != nil {
		return err
	}
	mem, cpus := "—", "—"
	if l.Memory > 0 {
		mem = executor.HumanBytes(uint64(l.Memory))
	}
	if l.CPUs > 0 {
		cpus = fmt.Sprint(l.CPUs)
	}
	return s.db.SetSetting(ctx, limitsSettingKey, string(raw), db.Describe("memory %s, CPUs %s", mem, cpus))
}
