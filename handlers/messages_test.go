package handlers

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"imagebuilder/builder/logs"
	"imagebuilder/builder/message"
	"imagebuilder/db"
	"imagebuilder/db/failure"
	"imagebuilder/views"
)

// verbs are the fmt verbs of a format, in order of use ("%[2]q" counts).
var verbs = regexp.MustCompile(`%(?:\[\d+\])?[-+# 0]*\d*(?:\.\d+)?[a-zA-Z]`)

// Every message the builder and db packages write for people is a literal
// format in a msgf/notFound/conflict call, and the zh-TW catalogue has it
// with the same number of arguments: a new message cannot appear in English
// on a Chinese page unnoticed. Each msgf format has a frozen API code.
func TestEveryBuilderAndStoreMessageIsTranslated(t *testing.T) {
	makers := map[string]bool{"msgf": true, "notFound": true, "conflict": true}
	fset := token.NewFileSet()
	found := 0
	var files []string
	for _, dir := range []string{"../builder", "../db", "."} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".go") {
				files = append(files, path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			fn, ok := call.Fun.(*ast.Ident)
			if !ok || !makers[fn.Name] {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: %s needs a literal format", fset.Position(call.Pos()), fn.Name)
				return true
			}
			format, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			found++
			if fn.Name == "msgf" && !message.HasFrozenCode(format) {
				t.Errorf("%s: %q has no frozen API code; add it to builder/message/codes.go (%q, or the old code if it was reworded)",
					fset.Position(call.Pos()), format, message.DerivedCode(format))
			}
			zh := views.Loc{Lang: views.LangZH}.Msg(format)
			switch {
			case !views.Translates(views.LangZH, format):
				t.Errorf("%s: no zh-TW wording for %q", fset.Position(call.Pos()), format)
			case len(verbs.FindAllString(zh, -1)) != len(verbs.FindAllString(format, -1)):
				t.Errorf("%q and its zh-TW wording %q take different arguments", format, zh)
			case len(call.Args)-1 != len(verbs.FindAllString(format, -1)):
				t.Errorf("%s: %q is given %d arguments", fset.Position(call.Pos()), format, len(call.Args)-1)
			}
			return true
		})
	}
	if found < 100 {
		t.Fatalf("found only %d message formats; is the scan still looking at the right calls?", found)
	}
}

// A Chinese page shows the builder's validation problems in Chinese, next
// to their field, with the user's text kept.
func TestValidationErrorsInTraditionalChinese(t *testing.T) {
	app, _ := testApp(t)
	cl := signedIn(t, app)
	cl.cookies["lang"] = &http.Cookie{Name: "lang", Value: views.LangZH}
	resp, doc := cl.post("/specs", url.Values{
		"name": {"Bad_Name"}, "baseImage": {"busybox"},
		"apt": {"jq\njq"}, "conda": {"numpy[foo=bar]"}, "pip": {"requests (>=1.0"},
	})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", resp.StatusCode)
	}
	want := map[string]string{
		"name-errors":  `"Bad_Name" 含有大寫字母`,
		"apt-errors":   `第 2 行："jq" 重複列出（第一次出現在第 1 行）`,
		"conda-errors": `第 1 行：[ ] 中有未知的 key "foo"`,
		"pip-errors":   `第 1 行：版本條件的 “(” 沒有對應的 “)”`,
	}
	for id, text := range want {
		if got := doc.Find(`[data-testid="` + id + `"]`).Text(); !strings.Contains(got, text) {
			t.Errorf("%s = %q, want it to contain %q", id, got, text)
		}
	}
	if got, _ := doc.Find(`[data-testid="conda"]`).Html(); !strings.Contains(got, "numpy[foo=bar]") {
		t.Errorf("the conda text was not kept: %q", got)
	}

	// The same form in English says it in English.
	cl.cookies["lang"] = &http.Cookie{Name: "lang", Value: views.LangEN}
	_, doc = cl.post("/specs", url.Values{"name": {"ok"}, "baseImage": {"busybox"}, "conda": {"numpy[foo=bar]"}})
	if got := doc.Find(`[data-testid="conda-errors"]`).Text(); !strings.Contains(got, `Line 1: unknown key "foo" in [ ]`) {
		t.Errorf("English conda error %q", got)
	}
}

// Every reason code a job can end with has a wording and a hint in both
// languages.
func TestEveryReasonCodeIsTranslatedWithAHint(t *testing.T) {
	for _, code := range failure.Reasons {
		for _, lang := range []string{views.LangEN, views.LangZH} {
			for _, key := range []string{"reason." + string(code), "hint." + string(code)} {
				if !views.Has(lang, key) {
					t.Errorf("%s has no %q", lang, key)
				}
			}
		}
	}
}

// A failure reason is shown in the page's language, with what to do, from
// the job's reason code; the English text stays in the store for the log
// and the command line.
func TestJobPageShowsTheReasonInThePagesLanguage(t *testing.T) {
	app, store := testApp(t)
	cl := signedIn(t, app)
	cl.post("/specs", url.Values{"name": {"reasons"}, "baseImage": {"127.0.0.1:5000/library/busybox:latest"}})
	cl.post("/specs/reasons", url.Values{"baseImage": {"127.0.0.1:5000/library/busybox:latest"}, "apt": {"jq"}})
	jobs, _ := store.ListJobs(t.Context(), "reasons")
	cl.post(fmt.Sprintf("/jobs/%d/cancel", jobs[0].ID), nil)
	for _, tc := range []struct {
		job              int64
		lang, want, hint string
	}{
		{jobs[1].ID, "zh-TW", "已由版號 2 取代", "不需處理"},
		{jobs[0].ID, "zh-TW", "已由管理者取消", "請重試"},
		{jobs[0].ID, "en", "cancelled by an administrator", "Retry it"},
	} {
		req := httptest.NewRequest("GET", fmt.Sprintf("/jobs/%d", tc.job), nil)
		req.Header.Set("Accept-Language", tc.lang)
		_, doc := cl.do(req)
		if got := doc.Find(`[data-testid="job-error"]`).Text(); got != tc.want {
			t.Errorf("job %d in %s: reason %q, want %q", tc.job, tc.lang, got, tc.want)
		}
		if got := doc.Find(`[data-testid="job-hint"]`).Text(); !strings.Contains(got, tc.hint) {
			t.Errorf("job %d in %s: hint %q", tc.job, tc.lang, got)
		}
	}
	if j, _ := store.GetJob(t.Context(), jobs[0].ID); j.Failure.Text() != "cancelled by an administrator" || j.Failure.Code() != failure.Cancelled {
		t.Fatalf("stored: %+v", j.Failure)
	}
}

// The line a step failure quotes is highlighted in the log tail and linked
// from the reason; the log's text is otherwise unchanged.
func TestJobPageHighlightsTheDiagnosedLogLine(t *testing.T) {
	var logStore *logs.Store
	app, store := newTestApp(t, true, func(d *Deps) { logStore = d.Logs })
	cl := signedIn(t, app)
	cl.post("/specs", url.Values{"name": {"diagnosed"}, "baseImage": {"127.0.0.1:5000/library/busybox:latest"}, "apt": {"nope"}})
	jobs, _ := store.ListJobs(t.Context(), "diagnosed")
	job, _, _ := store.ClaimNextJob(t.Context())
	l, _ := logStore.Open(job.ID)
	fmt.Fprint(l, "Reading package lists...\nE: Unable to locate package nope\nsome trailing output\n")
	l.Close()
	store.FinishJob(t.Context(), jobs[0].ID, db.JobOutcome{Status: db.StatusFailed, Failure: &failure.Failure{
		Reason: failure.StepFailed, Args: []string{"apt", "100"}, Lines: []string{"E: Unable to locate package nope"},
		Message: "the APT step failed (exit status 100): E: Unable to locate package nope"}})
	_, doc := cl.get(fmt.Sprintf("/jobs/%d", jobs[0].ID))
	mark := doc.Find(`pre#log mark#diagnosis`)
	if !strings.HasSuffix(mark.Text(), " E: Unable to locate package nope") {
		t.Fatalf("highlighted: %q", mark.Text())
	}
	if href, _ := doc.Find(`[data-testid="diagnosis-link"]`).Attr("href"); href != "#diagnosis" {
		t.Fatalf("link %q", href)
	}
	lines, _, _, _ := logStore.Tail(jobs[0].ID, 2000)
	if got := doc.Find("pre#log").Text(); got != strings.Join(lines, "\n") {
		t.Fatalf("the log text changed:\n%q\nwant\n%q", got, strings.Join(lines, "\n"))
	}
	if got := doc.Find(`[data-testid="job-error"]`).Text(); got != "the APT step failed (exit status 100): E: Unable to locate package nope" {
		t.Fatalf("reason %q", got)
	}
}
