package db_test

import (
	"context"
	"path/filepath"
	"testing"

	"imagebuilder/db"
	"imagebuilder/db/dbtest"
)

// BenchmarkListSpecs1000Specs50000Jobs is the Image Builder list query:
// the whole list, and one filtered page.
func BenchmarkListSpecs1000Specs50000Jobs(b *testing.B) {
	path := filepath.Join(b.TempDir(), "imagebuilder.db")
	if err := dbtest.SeedList(path, 1000, 50); err != nil {
		b.Fatal(err)
	}
	d, err := db.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	b.Run("all", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			list, err := d.ListSpecs(ctx)
			if err != nil || len(list) != 1000 || list[0].Image == "" {
				b.Fatal(len(list), err)
			}
		}
	})
	b.Run("page", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			page, err := d.ListSpecsPage(ctx, db.SpecFilter{Query: "spec-0", Status: "succeeded", Limit: 50, Offset: 50})
			if err != nil || len(page.Specs) != 50 || page.Total == 0 {
				b.Fatal(len(page.Specs), page.Total, err)
			}
		}
	})
}

func TestListSpecsPageFiltersAndCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imagebuilder.db")
	if err := dbtest.SeedList(path, 120, 5); err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	if _, _, err := d.CreateSpec(ctx, db.ImageSpec{Name: "never-built", BaseImage: "x"}, ""); err != nil {
		t.Fatal(err)
	}
	page, err := d.ListSpecsPage(ctx, db.SpecFilter{Limit: 50, Offset: 100})
	if err != nil || page.Total != 121 || len(page.Specs) != 21 || page.Specs[0].Name != "spec-0100" {
		t.Fatalf("third page: %d of %d, first %v, %v", len(page.Specs), page.Total, page.Specs, err)
	}
	// "spec-01" is in spec-0100 … spec-0120.
	if page, _ := d.ListSpecsPage(ctx, db.SpecFilter{Query: "spec-01", Limit: 50}); page.Total != 21 {
		t.Fatalf("query spec-01: %d", page.Total)
	}
	page, _ = d.ListSpecsPage(ctx, db.SpecFilter{Status: "pending"})
	if page.Total != 1 || page.Specs[0].Name != "never-built" {
		t.Fatalf("pending: %+v", page)
	}
	page, _ = d.ListSpecsPage(ctx, db.SpecFilter{Query: "%"})
	if page.Total != 0 {
		t.Fatalf("a %% in the query is a wildcard: %d", page.Total)
	}
	page, _ = d.ListSpecsPage(ctx, db.SpecFilter{Status: "failed", Limit: 10, Offset: 1000})
	if len(page.Specs) != 0 || page.Total == 0 {
		t.Fatalf("past the end: %d of %d", len(page.Specs), page.Total)
	}
	for _, s := range page.Specs {
		if s.Status != db.StatusFailed {
			t.Fatalf("status filter kept %s", s.Status)
		}
	}
}
