package db

// Settings: one value per key.

import (
	"context"
	"database/sql"
	"errors"
)

// GetSetting returns a setting's value; ok is false when it is not set.
func (d *DB) GetSetting(ctx context.Context, key string) (value string, ok bool, err error) {
	err = d.read.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return value, err == nil, err
}

// SetSetting stores a setting; detail says for the audit log what it now
// is (never a secret).
func (d *DB) SetSetting(ctx context.Context, key, value string, detail Detail) error {
	_, err := d.execAudited(ctx, AuditEvent{Action: ActionSettings, Target: key, Detail: detail},
		`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}
