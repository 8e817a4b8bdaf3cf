package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// APIToken is an API token's record; the secret itself is never stored,
// only its SHA-256.
type APIToken struct {
	ID        int64
	Name      string
	Hint      string
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
	// LastUsed is when it last authenticated a request (zero: never),
	// updated at most once a minute; Revoked when it was revoked.
	LastUsed time.Time
	Revoked  time.Time
}

// Valid reports whether the token authenticates requests at now.
func (t APIToken) Valid(now time.Time) bool { return t.Revoked.IsZero() && now.Before(t.ExpiresAt) }

const tokenColumns = `id, name, hint, created_by, created_at, expires_at, last_used_at, revoked_at`

func scanToken(r scanner) (APIToken, error) {
	var t APIToken
	var created, expires int64
	var used, revoked sql.NullInt64
	if err := r.Scan(&t.ID, &t.Name, &t.Hint, &t.CreatedBy, &created, &expires, &used, &revoked); err != nil {
		return APIToken{}, err
	}
	t.CreatedAt, t.ExpiresAt = time.UnixMilli(created), time.UnixMilli(expires)
	t.LastUsed, t.Revoked = fromMS(used), fromMS(revoked)
	return t, nil
}

// CreateAPIToken stores a token by the SHA-256 of its secret.
func (d *DB) CreateAPIToken(ctx context.Context, name, hint, createdBy string, hash []byte, expires time.Time) (APIToken, error) {
	now := d.now()
	res, err := d.execAudited(ctx, AuditEvent{Action: ActionTokenCreate, Target: name, Detail: Describe("expires %s", expires.UTC().Format("2006-01-02 15:04 UTC"))},
		`INSERT INTO api_tokens (name, hash, hint, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		name, hash, hint, createdBy, ms(now), ms(expires))
	if err != nil {
		return APIToken{}, fmt.Errorf("create API token %q: %w", name, err)
	}
	id, _ := res.LastInsertId()
	return APIToken{ID: id, Name: name, Hint: hint, CreatedBy: createdBy, CreatedAt: time.UnixMilli(ms(now)), ExpiresAt: time.UnixMilli(ms(expires))}, nil
}

// APITokenByHash finds the token whose secret hashes to hash.
func (d *DB) APITokenByHash(ctx context.Context, hash []byte) (APIToken, error) {
	t, err := scanToken(d.read.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return APIToken{}, notFound("no such API token")
	}
	return t, err
}

// ListAPITokens returns every token, newest first.
func (d *DB) ListAPITokens(ctx context.Context) ([]APIToken, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list API tokens: %w", err)
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list API tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TouchAPIToken records that the token was just used.
func (d *DB) TouchAPIToken(ctx context.Context, id int64) error {
	_, err := d.write.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, ms(d.now()), id)
	return err
}

// RevokeAPIToken stops a token from authenticating; revoking twice is no
// error.
func (d *DB) RevokeAPIToken(ctx context.Context, id int64) error {
	var name string
	if err := d.read.QueryRowContext(ctx, `SELECT name FROM api_tokens WHERE id = ?`, id).Scan(&name); errors.Is(err, sql.ErrNoRows) {
		return notFound("API token %d does not exist", id)
	} else if err != nil {
		return fmt.Errorf("revoke API token %d: %w", id, err)
	}
	res, err := d.execAudited(ctx, AuditEvent{Action: ActionTokenDelete, Target: name},
		`UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, ms(d.now()), id)
	if err != nil {
		return fmt.Errorf("revoke API token %d: %w", id, err)
	}
	_ = res // revoking twice changes nothing and is no error
	return nil
}
