package settings

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"imagebuilder/builder/registry"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
)

func TestParseScheduleNamesEachBadField(t *testing.T) {
	sc, err := ParseSchedule(" 90m ", "", true)
	if err != nil || sc.HousekeepingEvery != 90*time.Minute || sc.BaseCheckEvery != 0 || !sc.DeleteExternalTags {
		t.Fatalf("%+v %v", sc, err)
	}
	_, err = ParseSchedule("soon", "10s", false)
	var verr spec.ValidationError
	if !errors.As(err, &verr) || len(verr) != 2 || verr[0].Field != FieldHousekeepingEvery || verr[1].Field != FieldBaseCheckEvery {
		t.Fatalf("want an error next to each field, got %v", err)
	}
	if _, err := ParseSchedule("721h", "0", false); err == nil {
		t.Fatal("an interval past 720h was accepted")
	}
}

func TestScheduleFallsBackToTheFlagsAndSavedOneWakesTheLoop(t *testing.T) {
	store, err := db.Open(filepath.Join(t.TempDir(), "imagebuilder.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	s := New(store, nil, registry.Target{Host: "127.0.0.1:5000", Own: true})
	s.DefaultSchedule = Schedule{HousekeepingEvery: time.Hour, BaseCheckEvery: 6 * time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if got := s.HousekeepingEvery(ctx); got != time.Hour {
		t.Fatalf("default interval %v", got)
	}
	// The embedded registry's tags are not "external", even when allowed.
	if err := s.SaveSchedule(ctx, Schedule{DeleteExternalTags: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.ExternalTags(ctx); ok || err != nil {
		t.Fatalf("the embedded registry counted as external (%v)", err)
	}

	// A loop waiting on "never" runs once the schedule says every 10 ms.
	var runs atomic.Int32
	done := make(chan struct{})
	go func() {
		Every(ctx, s.HousekeepingEvery, s.ScheduleChanged, func(context.Context) { runs.Add(1) })
		close(done)
	}()
	time.Sleep(50 * time.Millisecond)
	if runs.Load() != 0 {
		t.Fatal("a loop with interval 0 ran")
	}
	if err := s.SaveSchedule(ctx, Schedule{HousekeepingEvery: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); runs.Load() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the loop ran %d times after the schedule was saved", runs.Load())
		}
	}
	cancel()
	<-done
}
