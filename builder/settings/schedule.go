package settings

import (
	"context"
	"encoding/json"
	"fmt"
	"imagebuilder/db"
	"strings"
	"sync"
	"time"

	"imagebuilder/builder/registry"
	"imagebuilder/builder/spec"
)

const scheduleSettingKey = "schedule"

// Schedule is how often housekeeping and the base-image check run by
// themselves (0: only from their buttons), and whether housekeeping may
// delete revision tags in an external registry.
type Schedule struct {
	HousekeepingEvery time.Duration `json:"housekeepingEvery"`
	BaseCheckEvery    time.Duration `json:"baseCheckEvery"`
	// DeleteExternalTags lets retention delete a deleted revision's tag
	// (and a deleted spec's tags) in an external registry; off, they stay
	// there. The embedded registry's tags always go.
	DeleteExternalTags bool `json:"deleteExternalTags"`
}

// Fields of the schedule form.
const (
	FieldHousekeepingEvery = "housekeepingEvery"
	FieldBaseCheckEvery    = "baseCheckEvery"
)

// Bounds of the intervals: often enough to matter, rare enough not to
// run back to back.
const (
	MinInterval = time.Minute
	MaxInterval = 30 * 24 * time.Hour
)

// changes wakes the loops waiting on a schedule when it is saved.
type changes struct {
	mu sync.Mutex
	ch chan struct{}
}

func (c *changes) wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

func (c *changes) signal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch != nil {
		close(c.ch)
	}
	c.ch = make(chan struct{})
}

// Schedule is the stored schedule, or DefaultSchedule (the server's
// flags) until an administrator saves one.
func (s *Settings) Schedule(ctx context.Context) (Schedule, error) {
	raw, ok, err := s.db.GetSetting(ctx, scheduleSettingKey)
	if err != nil || !ok {
		return s.DefaultSchedule, err
	}
	var sc Schedule
	if err := json.Unmarshal([]byte(raw), &sc); err != nil {
		return Schedule{}, fmt.Errorf("stored schedule: %w", err)
	}
	return sc, nil
}

// SaveSchedule stores the schedule; loops waiting on the old one start
// over with the new one.
func (s *Settings) SaveSchedule(ctx context.Context, sc Schedule) error {
	raw, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	format := "housekeeping every %s, base image check every %s"
	if sc.DeleteExternalTags {
		format += ", deleting tags in the external registry"
	}
	detail := db.Describe(format, sc.HousekeepingEvery, sc.BaseCheckEvery)
	if err := s.db.SetSetting(ctx, scheduleSettingKey, string(raw), detail); err != nil {
		return err
	}
	s.scheduleChanges.signal()
	return nil
}

// ScheduleChanged closes when the schedule is next saved.
func (s *Settings) ScheduleChanged() <-chan struct{} { return s.scheduleChanges.wait() }

// HousekeepingEvery and BaseCheckEvery are the current intervals, for
// the loops (a stored schedule that cannot be read counts as the
// default).
func (s *Settings) HousekeepingEvery(ctx context.Context) time.Duration {
	sc, err := s.Schedule(ctx)
	if err != nil {
		return s.DefaultSchedule.HousekeepingEvery
	}
	return sc.HousekeepingEvery
}

// BaseCheckEvery: see HousekeepingEvery.
func (s *Settings) BaseCheckEvery(ctx context.Context) time.Duration {
	sc, err := s.Schedule(ctx)
	if err != nil {
		return s.DefaultSchedule.BaseCheckEvery
	}
	return sc.BaseCheckEvery
}

// ExternalTags is the registry whose tags housekeeping may delete besides
// the embedded one's: the current external push registry when the
// schedule allows it; ok is false otherwise.
func (s *Settings) ExternalTags(ctx context.Context) (reg registry.Target, ok bool, err error) {
	sc, err := s.Schedule(ctx)
	if err != nil || !sc.DeleteExternalTags {
		return registry.Target{}, false, err
	}
	reg, err = s.Registry(ctx)
	if err != nil || reg.Own || reg.Host == "" {
		return registry.Target{}, false, err
	}
	return reg, true, nil
}

// ParseSchedule reads the schedule form: Go durations such as 30m, 1h or
// 6h (0 or empty: only from the button), between MinInterval and
// MaxInterval; every problem is named next to its field.
func ParseSchedule(housekeeping, baseCheck string, deleteExternal bool) (Schedule, error) {
	var errs spec.ValidationError
	parse := func(field, v string) time.Duration {
		v = strings.TrimSpace(v)
		if v == "" || v == "0" {
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < MinInterval || d > MaxInterval {
			errs = append(errs, spec.FieldError{Field: field, Message: msgf("%q is not an interval from 1m to 720h, such as 30m, 1h or 6h (0: only from the button)", v)})
		}
		return d
	}
	sc := Schedule{HousekeepingEvery: parse(FieldHousekeepingEvery, housekeeping), BaseCheckEvery: parse(FieldBaseCheckEvery, baseCheck), DeleteExternalTags: deleteExternal}
	if len(errs) > 0 {
		return Schedule{}, errs
	}
	return sc, nil
}

// Every runs run every interval(ctx) until ctx ends, starting over when
// changed closes (a saved schedule); an interval of 0 waits for a change.
func Every(ctx context.Context, interval func(context.Context) time.Duration, changed func() <-chan struct{}, run func(context.Context)) {
	for {
		wake := changed()
		var tick <-chan time.Time
		var timer *time.Timer
		if d := interval(ctx); d > 0 {
			timer = time.NewTimer(d)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-wake:
			if timer != nil {
				timer.Stop()
			}
		case <-tick:
			run(ctx)
		}
	}
}
