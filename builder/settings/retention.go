package settings

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"imagebuilder/builder/spec"
	"imagebuilder/db"
)

const retentionSettingKey = "retention"

// DefaultRetention is the global retention until an administrator sets
// one: a year of builds stays bounded.
var DefaultRetention = db.Retention{KeepSucceeded: 30, KeepFailed: 10, LogDays: 90}

// Fields of the retention form.
const (
	FieldKeepSucceeded = "keepSucceeded"
	FieldKeepFailed    = "keepFailed"
	FieldLogDays       = "logDays"
)

// Retention is the global default retention.
func (s *Settings) Retention(ctx context.Context) (db.Retention, error) {
	raw, ok, err := s.db.GetSetting(ctx, retentionSettingKey)
	if err != nil || !ok {
		return DefaultRetention, err
	}
	var r db.Retention
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return db.Retention{}, fmt.Errorf("stored retention: %w", err)
	}
	return r, nil
}

// SaveRetention stores the global default retention.
func (s *Settings) SaveRetention(ctx context.Context, r db.Retention) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.db.SetSetting(ctx, retentionSettingKey, string(raw), r.Detail())
}

// ParseRetention reads the retention form: whole numbers, 0 (or empty)
// for "keep everything"; every problem is named next to its field.
func ParseRetention(succeeded, failed, days string) (db.Retention, error) {
	var errs spec.ValidationError
	num := func(field, v string, max int) int {
		v = strings.TrimSpace(v)
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > max {
			errs = append(errs, spec.FieldError{Field: field, Message: msgf("%q is not a whole number from 0 (keep all) to %d", v, max)})
		}
		return n
	}
	r := db.Retention{KeepSucceeded: num(FieldKeepSucceeded, succeeded, 100000), KeepFailed: num(FieldKeepFailed, failed, 100000), LogDays: num(FieldLogDays, days, 36500)}
	if len(errs) > 0 {
		return db.Retention{}, errs
	}
	return r, nil
}
