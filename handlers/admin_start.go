package handlers

import (
	"context"
	"errors"
	"fmt"
	"imagebuilder/db"
)

// EnsureAdmin creates the administrator given by flags, or resets its
// password, when a password is given.
func EnsureAdmin(ctx context.Context, store *db.DB, user, password string) error {
	if password == "" {
		return nil
	}
	if user == "" {
		return errors.New("--admin-user is empty")
	}
	hash, err := HashPassword(password)
	if err != nil {
		return fmt.Errorf("--admin-password: %w", err)
	}
	// Whoever starts the server with a password acts on the accounts.
	ctx = db.WithActor(ctx, "--admin-password at start")
	if _, err := store.GetAdminByUsername(ctx, user); err == nil {
		return store.SetAdminPassword(ctx, user, hash, "")
	}
	_, err = store.CreateAdmin(ctx, user, hash)
	return err
}
