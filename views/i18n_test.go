package views

import (
	"regexp"
	"strings"
	"testing"

	"imagebuilder/db/failure"
)

var verbs = regexp.MustCompile(`%(?:\[\d+\])?[-+# 0]*\d*(?:\.\d+)?[a-zA-Z]`)

// Both languages have every key, and each translation takes the arguments
// its English original takes.
func TestCatalogueHasEveryKeyInBothLanguages(t *testing.T) {
	for key, en := range catalogue[LangEN] {
		if strings.HasSuffix(key, ".one") {
			// Chinese has one plural form: the key's ".other".
			key = strings.TrimSuffix(key, ".one") + ".other"
		}
		zh, ok := catalogue[LangZH][key]
		if !ok {
			t.Errorf("zh-TW has no %q", key)
			continue
		}
		if len(verbs.FindAllString(zh, -1)) != len(verbs.FindAllString(en, -1)) {
			t.Errorf("%q: %q and %q take different arguments", key, en, zh)
		}
	}
	for key := range catalogue[LangZH] {
		if _, ok := catalogue[LangEN][key]; !ok {
			t.Errorf("English has no %q", key)
		}
		if strings.HasSuffix(key, ".one") {
			t.Errorf("zh-TW has %q: Chinese has one plural form, .other", key)
		}
	}
	for format, zh := range messages[LangZH] {
		if zh == format {
			t.Errorf("the zh-TW wording of %q is the English one", format)
		}
	}
}

// keptInEnglish are the page strings the zh-TW documents (seed v2.8) keep in
// English: product and technical names. Any other zh-TW string that equals
// its English original is a string somebody forgot to translate.
var keptInEnglish = map[string]bool{
	"app.title": true, "nav.builder": true, "tab.info": true, "tab.jobs": true,
	"form.apt": true, "form.conda": true, "form.pip": true, "form.image": true,
	"form.base": true, "col.image": true, "job.image": true, "job.digest": true, "list.title": true,
	"registry.warning":  true, // the seed quotes the warning in English: `image registry not found`
	"image.none":        true, // a dash
	"audit.filter.spec": true,
	"pkg.sbom.spdx":     true, "pkg.sbom.cyclonedx": true, // format names
}

func TestEveryPageStringIsTranslated(t *testing.T) {
	for key, en := range catalogue[LangEN] {
		if zh := catalogue[LangZH][key]; zh == en && !keptInEnglish[key] {
			t.Errorf("zh-TW %q is still the English %q", key, en)
		}
	}
}

// A diagnosed reason is worded from its arguments without the tool's
// line, which is highlighted in the log instead.
func TestDiagnosedReasonWordingAndQuotedLine(t *testing.T) {
	f := &failure.Failure{Reason: failure.APTVersion, Args: []string{"jq", "0.0-x"}, Lines: []string{"E: Version '0.0-x' for 'jq' was not found"}, Message: "english"}
	zh := Loc{Lang: LangZH}
	if got := reasonText(zh, f); got != "找不到 APT 套件「jq」的版本「0.0-x」" {
		t.Fatalf("zh-TW: %q", got)
	}
	v := JobView{Failure: f,
		Lines: []string{"2026-11-23T10:00:00.000Z Reading package lists...", "2026-11-23T10:00:01.000Z E: Version '0.0-x' for 'jq' was not found", "2026-11-23T10:00:01.100Z Image Builder: revision 1 failed"}}
	if i := v.DiagnosisIndex(); i != 1 {
		t.Fatalf("highlighted line %d", i)
	}
	if got := reasonText(Loc{Lang: LangEN}, &failure.Failure{Reason: "no-such-code", Message: "english"}); got != "english" {
		t.Fatalf("unknown code: %q", got)
	}
}

// A count shown with a noun takes the noun's plural form: every English
// string that counts things ("%d problems") is a plural key (.one and
// .other, used through Loc.N), and each .one has its .other.
var countedNoun = regexp.MustCompile(`%(?:\[\d\])?d (?:more )?([a-z]+)|\(s\)`)

// notNouns are words after a count that do not take its number.
var notNouns = map[string]bool{"was": true, "has": true, "is": true, "of": true}

func countsNoun(s string) bool {
	for _, m := range countedNoun.FindAllStringSubmatch(s, -1) {
		if m[1] == "" || (strings.HasSuffix(m[1], "s") && !notNouns[m[1]]) {
			return true
		}
	}
	return false
}

// boundsAboveOne count what is a fixed bound, never 1 (password lengths,
// list limits, the API rate).
var boundsAboveOne = map[string]bool{"setup.short": true, "setup.long": true, "form.packages.limits": true, "api.ratelimited": true}

func TestCountsTakePluralForms(t *testing.T) {
	for key, en := range catalogue[LangEN] {
		plural := strings.HasSuffix(key, ".one") || strings.HasSuffix(key, ".other")
		if countsNoun(en) && !plural && !boundsAboveOne[key] {
			t.Errorf("%q (%q) counts a noun: make it %s.one and %s.other and use Loc.N", key, en, key, key)
		}
		if strings.HasSuffix(key, ".one") {
			if _, ok := catalogue[LangEN][strings.TrimSuffix(key, ".one")+".other"]; !ok {
				t.Errorf("%q has no .other", key)
			}
		}
	}
	en, zh := Loc{Lang: LangEN}, Loc{Lang: LangZH}
	for _, c := range []struct {
		loc  Loc
		n    int
		want string
	}{
		{en, 1, "1 attempt"}, {en, 2, "2 attempts"}, {en, 0, "0 attempts"}, {zh, 1, "嘗試 1 次"}, {zh, 3, "嘗試 3 次"},
	} {
		if got := c.loc.N("webhooks.attempts", c.n); got != c.want {
			t.Errorf("%s %d: %q, want %q", c.loc.Lang, c.n, got, c.want)
		}
	}
}

// The Chinese pages use the seeds' words for one act: 創建 (never 建置)
// for building, 版號 (never 修訂版) for a revision, 刪除 for deleting.
// English says Delete for every deletion (never Remove or Revoke on a
// button).
func TestOneWordForOneAct(t *testing.T) {
	for key, zh := range catalogue[LangZH] {
		for _, banned := range []string{"建置", "修訂版", "移除", "撤銷"} {
			if strings.Contains(zh, banned) && !strings.HasPrefix(key, "compare.") && !strings.HasPrefix(key, "pkg.diff") && !strings.HasPrefix(key, "hint.") && key != "api.badtoken" {
				t.Errorf("zh-TW %q uses %s: %q", key, banned, zh)
			}
		}
	}
	for key, en := range catalogue[LangEN] {
		if strings.HasPrefix(key, "action.") || strings.HasSuffix(key, ".delete") {
			for _, banned := range []string{"Remove", "Revoke"} {
				if strings.Contains(en, banned) {
					t.Errorf("%q is %q: deleting is Delete everywhere", key, en)
				}
			}
		}
	}
}

// Every reason is worded from the arguments its failure carries, in both
// languages: each argument shows, and no reason falls back to English for
// want of a fitting wording.
func TestEveryReasonIsWordedFromItsArguments(t *testing.T) {
	args := map[failure.Reason][]string{
		failure.Superseded: {"7"}, failure.Timeout: {"1h0m0s"}, failure.Silent: {"10m0s"},
		failure.LogUnwritable: {"EIO-MARK"}, failure.DiskFullLog: {"ENOSPC-MARK"}, failure.DiskFull: {"/data-MARK"},
		failure.DiskSpaceLow: {"1.0 MiB", "/data-MARK", "2.0 GiB"}, failure.RegistrySilent: {"reg-MARK", "1m0s"},
		failure.RegistrySilentOut: {"reg-MARK", "1m0s"}, failure.StepFailed: {"apt", "100"}, failure.InvalidSpec: {"problems-MARK"},
		failure.NoRegistry: {"why-MARK"}, failure.OutOfMemory: {"512Mi"}, failure.BaseNotFound: {"base-MARK"},
		failure.Unreachable: {"reg-MARK", "refused-MARK"}, failure.UnreachableOut: {"reg-MARK", "refused-MARK"},
		failure.WorkerImage: {"detail-MARK"}, failure.Evicted: {"detail-MARK"}, failure.NodeLost: {"detail-MARK"},
		failure.PodGone: {"detail-MARK"}, failure.PodStopped: {"detail-MARK"}, failure.PodRejected: {"detail-MARK"}, failure.NoUserNS: {"detail-MARK"}, failure.APTNotFound: {"pkg-MARK"}, failure.APTVersion: {"pkg-MARK", "ver-MARK"},
		failure.PipNoMatch: {"req-MARK"}, failure.PipConflict: {"reqs-MARK"},
	}
	for _, r := range failure.Reasons {
		f := &failure.Failure{Reason: r, Args: args[r], Message: "ENGLISH FALLBACK"}
		for _, lang := range []string{LangEN, LangZH} {
			got := reasonText(Loc{Lang: lang}, f)
			if got == f.Message || strings.Contains(got, "%!") {
				t.Errorf("%s %q: %q", lang, r, got)
			}
			for _, a := range f.Args {
				if r == failure.StepFailed && a == "apt" {
					continue // named as the step
				}
				if !strings.Contains(got, a) {
					t.Errorf("%s %q: %q does not show %q", lang, r, got, a)
				}
			}
		}
	}
}
