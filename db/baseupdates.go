package db

import (
	"context"
	"fmt"
	"time"
)

// What a spec does when its base image changes.
const (
	BasePolicyWait     = "wait"     // show "base image updated" and wait for Rebuild
	BasePolicyRebuild  = "rebuild"  // rebuild at once
	BasePolicyActivate = "activate" // rebuild, and make it active when it succeeds
)

// BasePolicies lists the policies in the order forms offer them.
var BasePolicies = []string{BasePolicyWait, BasePolicyRebuild, BasePolicyActivate}

// BaseState is what a spec knows of its base image's updates.
type BaseState struct {
	Policy string
	// Update is the newer digest the last check found ("" for none).
	Update    string
	CheckedAt time.Time
}

// GetBaseState is a spec's base-image update state.
func (d *DB) GetBaseState(ctx context.Context, name string) (BaseState, error) {
	var b BaseState
	var checked int64
	err := d.read.QueryRowContext(ctx, `SELECT base_policy, base_update, base_checked_at FROM specs WHERE name = ?`, name).Scan(&b.Policy, &b.Update, &checked)
	if err != nil {
		return BaseState{}, fmt.Errorf("the base image state of %s: %w", name, err)
	}
	if checked > 0 {
		b.CheckedAt = time.UnixMilli(checked)
	}
	return b, nil
}

// SetBasePolicy chooses what the spec does when its base image changes.
func (d *DB) SetBasePolicy(ctx context.Context, name, policy string) error {
	valid := false
	for _, p := range BasePolicies {
		valid = valid || p == policy
	}
	if !valid {
		return conflict("%q is not a base image policy", policy)
	}
	res, err := d.execAudited(ctx, AuditEvent{Action: ActionBasePolicy, Spec: name, Detail: Describe("policy: %s", policy)}, `UPDATE specs SET base_policy = ? WHERE name = ?`, policy, name)
	if err != nil {
		return fmt.Errorf("set the base image policy of %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("image spec %q does not exist", name)
	}
	return nil
}

// SetBaseChecked records a check of the spec's base image: update is the
// newer digest found ("" when the base did not change).
func (d *DB) SetBaseChecked(ctx context.Context, name, update string) error {
	if _, err := d.write.ExecContext(ctx, `UPDATE specs SET base_update = ?, base_checked_at = ? WHERE name = ?`, update, ms(d.now()), name); err != nil {
		return fmt.Errorf("record the base image check of %s: %w", name, err)
	}
	return nil
}

// SetActivateOnSuccess marks a job to become its spec's active revision
// when it succeeds.
func (d *DB) SetActivateOnSuccess(ctx context.Context, jobID int64) error {
	if _, err := d.write.ExecContext(ctx, `UPDATE jobs SET activate_on_success = 1 WHERE id = ?`, jobID); err != nil {
		return fmt.Errorf("mark job %d to become active: %w", jobID, err)
	}
	return nil
}
