package handlers

import (
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// The written-out hash an unknown user's sign-in compares against costs
// what a real one does (else the time would tell who has an account),
// and no password matches it by accident.
func TestDummyHashCostsWhatARealHashCosts(t *testing.T) {
	cost, err := bcrypt.Cost(dummyHash)
	if err != nil || cost != passwordCost {
		t.Fatalf("dummy hash cost = %d, %v; want %d", cost, err, passwordCost)
	}
	real, err := HashPassword("a password long enough")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := bcrypt.Cost([]byte(real)); c != passwordCost {
		t.Fatalf("real hash cost = %d, want %d", c, passwordCost)
	}
	for _, pw := range []string{"", "admin", "a password long enough"} {
		if bcrypt.CompareHashAndPassword(dummyHash, []byte(pw)) == nil {
			t.Fatalf("%q matches the dummy hash", pw)
		}
	}
}
