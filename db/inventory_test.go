package db

import (
	"context"
	"reflect"
	"testing"
	"time"
)

func TestInventoriesAreKeptComparedAndDeletedWithTheirSpec(t *testing.T) {
	d := openTest(t)
	ctx := context.Background()
	_, j1, err := d.CreateSpec(ctx, ImageSpec{Name: "inv", BaseImage: "busybox"}, "r")
	if err != nil {
		t.Fatal(err)
	}
	succeed := func(j Job) {
		t.Helper()
		if _, _, err := d.ClaimNextJob(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := d.FinishJob(ctx, j.ID, JobOutcome{Status: StatusSucceeded, Image: "r/inv:1", Digest: "sha256:1"}); err != nil {
			t.Fatal(err)
		}
	}
	succeed(j1)
	if err := d.SetJobContentKey(ctx, j1.ID, "key", "sha256:base"); err != nil {
		t.Fatal(err)
	}
	pkgs := []Package{{Type: "deb", Name: "jq", Version: "1.6", Arch: "amd64", Location: "/var/lib/dpkg/status"},
		{Type: "conda", Name: "numpy", Version: "1.26.4", Build: "py_0", Channel: "conda-forge", Arch: "linux-64"}}
	at := time.UnixMilli(time.Now().UnixMilli())
	if err := d.SaveInventory(ctx, Inventory{JobID: j1.ID, OK: true, DistroID: "debian", DistroVersion: "12", ScannedAt: at, Duration: 1500 * time.Millisecond, Packages: pkgs}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := d.GetInventory(ctx, j1.ID)
	if err != nil || !ok || !got.OK || !reflect.DeepEqual(got.Packages, pkgs) || got.DistroID != "debian" || !got.ScannedAt.Equal(at) || got.Duration != 1500*time.Millisecond {
		t.Fatalf("inventory %+v ok=%v err=%v", got, ok, err)
	}
	if j, _ := d.GetJob(ctx, j1.ID); j.BaseDigest != "sha256:base" {
		t.Fatalf("base digest %q", j.BaseDigest)
	}
	_, j2, err := d.UpdateSpec(ctx, ImageSpec{Name: "inv", BaseImage: "busybox", APT: []string{"jq"}}, "r")
	if err != nil {
		t.Fatal(err)
	}
	succeed(j2)
	prev, ok, err := d.PreviousInventoried(ctx, "inv", j2.ID)
	if err != nil || !ok || prev.ID != j1.ID {
		t.Fatalf("previous %+v %v %v", prev, ok, err)
	}
	// A failed read replaces nothing else and says why.
	if err := d.SaveInventory(ctx, Inventory{JobID: j2.ID, Error: "connection refused", ScannedAt: at, AgainstJob: j1.ID}); err != nil {
		t.Fatal(err)
	}
	all, err := d.Inventories(ctx, "inv")
	if err != nil || len(all) != 2 || all[j2.ID].OK || all[j2.ID].Error != "connection refused" || all[j2.ID].AgainstRevision != 1 || all[j1.ID].Packages != nil {
		t.Fatalf("inventories %+v (%v)", all, err)
	}
	if _, ok, _ := d.PreviousInventoried(ctx, "inv", j2.ID+1); !ok {
		t.Fatal("the readable inventory of revision 1 is not found after revision 2's failed one")
	}
	if err := d.DeleteSpec(ctx, "inv"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.read.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM inventories) + (SELECT COUNT(*) FROM inventory_packages)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d inventory rows outlive their spec (%v)", n, err)
	}
}
