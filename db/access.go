package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Admin is an administrator account.
type Admin struct {
	ID           int64
	Username     string
	PasswordHash string
	CreatedAt    time.Time
}

// Session is a signed-in administrator's session.
type Session struct {
	ID        string
	AdminID   int64
	Username  string
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time
	// LastSeen is when it was last used (updated at most once a minute).
	LastSeen time.Time
	// Address and UserAgent are the client's when it signed in.
	Address   string
	UserAgent string
}

// CountAdmins says how many administrators exist.
func (d *DB) CountAdmins(ctx context.Context) (int, error) {
	var n int
	err := d.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM admins`).Scan(&n)
	return n, err
}

// CreateAdmin adds an administrator; the username is unique.
func (d *DB) CreateAdmin(ctx context.Context, username, passwordHash string) (Admin, error) {
	now := d.now()
	res, err := d.execAudited(ctx, AuditEvent{Action: ActionAdminCreate, Target: username},
		`INSERT INTO admins (username, password_hash, created_at) VALUES (?, ?, ?)`, username, passwordHash, ms(now))
	if isUniqueViolation(err) {
		return Admin{}, conflict("an administrator named %q already exists", username)
	}
	if err != nil {
		return Admin{}, err
	}
	id, _ := res.LastInsertId()
	return Admin{ID: id, Username: username, PasswordHash: passwordHash, CreatedAt: time.UnixMilli(ms(now))}, nil
}

// CreateFirstAdmin adds an administrator only while there is none, so a
// first-run setup page cannot be used twice.
func (d *DB) CreateFirstAdmin(ctx context.Context, username, passwordHash string) (Admin, error) {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return Admin{}, err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM admins`).Scan(&n); err != nil {
		return Admin{}, err
	}
	if n > 0 {
		return Admin{}, conflict("an administrator already exists; sign in instead")
	}
	now := d.now()
	res, err := tx.ExecContext(ctx, `INSERT INTO admins (username, password_hash, created_at) VALUES (?, ?, ?)`, username, passwordHash, ms(now))
	if err != nil {
		return Admin{}, err
	}
	id, _ := res.LastInsertId()
	if err := d.record(ctx, tx, AuditEvent{Actor: username, Action: ActionAdminCreate, Target: username, Detail: Describe("first administrator, on the setup page")}); err != nil {
		return Admin{}, err
	}
	return Admin{ID: id, Username: username, PasswordHash: passwordHash, CreatedAt: time.UnixMilli(ms(now))}, tx.Commit()
}

// SetAdminPassword replaces an administrator's password hash and, in the
// same transaction, ends every session of theirs but keep ("" ends all):
// whoever knew the old password is signed out.
func (d *DB) SetAdminPassword(ctx context.Context, username, passwordHash, keep string) error {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	defer tx.Rollback()
	var id int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM admins WHERE username = ?`, username).Scan(&id); errors.Is(err, sql.ErrNoRows) {
		return notFound("administrator %q does not exist", username)
	} else if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE admins SET password_hash = ? WHERE id = ?`, passwordHash, id); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	ended, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE admin_id = ? AND id <> ?`, id, keep)
	if err != nil {
		return fmt.Errorf("set password: end sessions: %w", err)
	}
	n, _ := ended.RowsAffected()
	if err := d.record(ctx, tx, AuditEvent{Action: ActionPasswordChange, Target: username, Detail: Describe("other sessions ended: %s", n)}); err != nil {
		return err
	}
	return tx.Commit()
}

// GetAdminByUsername returns an administrator.
func (d *DB) GetAdminByUsername(ctx context.Context, username string) (Admin, error) {
	var a Admin
	var created int64
	err := d.read.QueryRowContext(ctx, `SELECT id, username, password_hash, created_at FROM admins WHERE username = ?`, username).
		Scan(&a.ID, &a.Username, &a.PasswordHash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Admin{}, notFound("administrator %q does not exist", username)
	}
	a.CreatedAt = time.UnixMilli(created)
	return a, err
}

// CreateSession stores a new session.
func (d *DB) CreateSession(ctx context.Context, s Session) error {
	_, err := d.execAudited(ctx, AuditEvent{Actor: s.Username, Action: ActionSignIn, Detail: Describe("from %s", s.Address)},
		`INSERT INTO sessions (id, admin_id, csrf, created_at, expires_at, last_seen_at, address, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.AdminID, s.CSRF, ms(s.CreatedAt), ms(s.ExpiresAt), ms(s.CreatedAt), s.Address, s.UserAgent)
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

const sessionColumns = `s.id, s.admin_id, a.username, s.csrf, s.created_at, s.expires_at, s.last_seen_at, s.address, s.user_agent`

func scanSession(r scanner) (Session, error) {
	var s Session
	var created, expires, seen int64
	if err := r.Scan(&s.ID, &s.AdminID, &s.Username, &s.CSRF, &created, &expires, &seen, &s.Address, &s.UserAgent); err != nil {
		return Session{}, err
	}
	s.CreatedAt, s.ExpiresAt, s.LastSeen = time.UnixMilli(created), time.UnixMilli(expires), time.UnixMilli(seen)
	return s, nil
}

// GetSession returns a session that has not expired.
func (d *DB) GetSession(ctx context.Context, id string) (Session, error) {
	s, err := scanSession(d.read.QueryRowContext(ctx, `SELECT `+sessionColumns+`
		FROM sessions s JOIN admins a ON a.id = s.admin_id WHERE s.id = ? AND s.expires_at > ?`, id, ms(d.now())))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, notFound("session expired or signed out")
	}
	return s, err
}

// TouchSession records that a session was used now.
func (d *DB) TouchSession(ctx context.Context, id string) error {
	if _, err := d.write.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ?`, ms(d.now()), id); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// ListSessions returns an administrator's sessions that have not expired,
// the most recently used first.
func (d *DB) ListSessions(ctx context.Context, adminID int64) ([]Session, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions s JOIN admins a ON a.id = s.admin_id
		WHERE s.admin_id = ? AND s.expires_at > ? ORDER BY s.last_seen_at DESC, s.created_at DESC`, adminID, ms(d.now()))
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// EndSessions signs out an administrator's sessions: those in ids, or,
// when ids is empty, every one except keep.
func (d *DB) EndSessions(ctx context.Context, adminID int64, keep string, ids ...string) (int64, error) {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("end sessions: %w", err)
	}
	defer tx.Rollback()
	var ended int64
	if len(ids) == 0 {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE admin_id = ? AND id <> ?`, adminID, keep)
		if err != nil {
			return 0, fmt.Errorf("end sessions: %w", err)
		}
		ended, _ = res.RowsAffected()
	}
	for _, id := range ids {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE admin_id = ? AND id = ?`, adminID, id)
		if err != nil {
			return 0, fmt.Errorf("end sessions: %w", err)
		}
		n, _ := res.RowsAffected()
		ended += n
	}
	if ended > 0 {
		var who string
		if err := tx.QueryRowContext(ctx, `SELECT username FROM admins WHERE id = ?`, adminID).Scan(&who); err != nil {
			return 0, fmt.Errorf("end sessions: %w", err)
		}
		if err := d.record(ctx, tx, AuditEvent{Action: ActionSessionsEnd, Target: who, Detail: Describe("sessions ended: %s", ended)}); err != nil {
			return 0, err
		}
	}
	return ended, tx.Commit()
}

// DeleteSession signs a session out, and drops expired ones.
func (d *DB) DeleteSession(ctx context.Context, id string) error {
	_, err := d.execAudited(ctx, AuditEvent{Action: ActionSignOut}, `DELETE FROM sessions WHERE id = ? OR expires_at <= ?`, id, ms(d.now()))
	return err
}

// PullSecret is a named pull secret; Sealed is its encrypted content.
type PullSecret struct {
	ID        int64
	Name      string
	Sealed    []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SavePullSecret adds or replaces the secret called name.
func (d *DB) SavePullSecret(ctx context.Context, name string, sealed []byte) error {
	now := ms(d.now())
	_, err := d.execAudited(ctx, AuditEvent{Action: ActionPullSecretSave, Target: name},
		`INSERT INTO pull_secrets (name, sealed, created_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`, name, sealed, now, now)
	return err
}

// GetPullSecret returns one secret.
func (d *DB) GetPullSecret(ctx context.Context, name string) (PullSecret, error) {
	var p PullSecret
	var created, updated int64
	err := d.read.QueryRowContext(ctx, `SELECT id, name, sealed, created_at, updated_at FROM pull_secrets WHERE name = ?`, name).
		Scan(&p.ID, &p.Name, &p.Sealed, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return PullSecret{}, notFound("pull secret %q does not exist", name)
	}
	p.CreatedAt, p.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
	return p, err
}

// ListPullSecrets returns every secret's name and times (not the content).
func (d *DB) ListPullSecrets(ctx context.Context) ([]PullSecret, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT id, name, created_at, updated_at FROM pull_secrets ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PullSecret
	for rows.Next() {
		var p PullSecret
		var created, updated int64
		if err := rows.Scan(&p.ID, &p.Name, &created, &updated); err != nil {
			return nil, err
		}
		p.CreatedAt, p.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
		out = append(out, p)
	}
	return out, rows.Err()
}

// DeletePullSecret removes one secret.
func (d *DB) DeletePullSecret(ctx context.Context, name string) error {
	res, err := d.execAudited(ctx, AuditEvent{Action: ActionPullSecretDelete, Target: name}, `DELETE FROM pull_secrets WHERE name = ?`, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("pull secret %q does not exist", name)
	}
	return nil
}
