package views

import (
	"regexp"
	"testing"
)

var verbs = regexp.MustCompile(`%(?:\[\d+\])?[-+# 0]*\d*(?:\.\d+)?[a-zA-Z]`)

// Both languages have every key, and each translation takes the arguments
// its English original takes.
func TestCatalogueHasEveryKeyInBothLanguages(t *testing.T) {
	for key, en := range catalogue[LangEN] {
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
	args := []string{"jq", "0.0-x", "E: Version '0.0-x' for 'jq' was not found"}
	zh := Loc{Lang: LangZH}
	if got := reasonText(zh, "apt-version-not-found", args, "english"); got != "找不到 APT 套件「jq」的版本「0.0-x」" {
		t.Fatalf("zh-TW: %q", got)
	}
	v := JobView{Reason: "apt-version-not-found", ReasonArgs: args,
		Lines: []string{"2026-11-23T10:00:00.000Z Reading package lists...", "2026-11-23T10:00:01.000Z E: Version '0.0-x' for 'jq' was not found", "2026-11-23T10:00:01.100Z Image Builder: revision 1 failed"}}
	if i := v.DiagnosisIndex(); i != 1 {
		t.Fatalf("highlighted line %d", i)
	}
	if got := reasonText(Loc{Lang: LangEN}, "no-such-code", nil, "english"); got != "english" {
		t.Fatalf("unknown code: %q", got)
	}
}
