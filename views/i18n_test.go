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
