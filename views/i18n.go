// Package views holds the portal's templ components: pure functions of the
// view models in this package, with one layout. Each X.templ has its
// models in X_models.go. It must not import the database, builder or
// handler packages (db/failure, the failure type, is the exception).
package views

import (
	"embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/text/language"
)

// Languages the portal speaks, by tag.
const (
	LangEN = "en"
	LangZH = "zh-TW"
)

// Loc translates message keys for one language.
type Loc struct {
	Lang string
}

// T returns the message for key, formatted with args when given.
func (l Loc) T(key string, args ...any) string {
	msg, ok := catalogue[l.Lang][key]
	if !ok {
		msg, ok = catalogue[LangEN][key]
	}
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(msg, args...)
	}
	return msg
}

// N returns the message for key in the plural form count takes in the
// language, formatted with count and then args: English has key.one (1)
// and key.other; Chinese has one form, key.other.
func (l Loc) N(key string, count int, args ...any) string {
	return l.T(key+"."+pluralForm(l.Lang, count), append([]any{count}, args...)...)
}

// pluralForm is the CLDR plural category of count in lang (for the
// portal's two languages and whole numbers).
func pluralForm(lang string, count int) string {
	if lang == LangEN && count == 1 {
		return "one"
	}
	return "other"
}

// Has reports whether lang's catalogue has key.
func Has(lang, key string) bool {
	_, ok := catalogue[lang][key]
	return ok
}

// HTMLLang is the value of <html lang>.
func (l Loc) HTMLLang() string {
	if l.Lang == LangZH {
		return "zh-Hant-TW"
	}
	return "en"
}

// PickLang chooses a supported language from a cookie value or, failing
// that, an Accept-Language header, negotiated with its quality values
// ("en;q=0.1, zh-TW" is Chinese; any Chinese, Simplified included, reads
// the Traditional Chinese pages rather than English); English when nothing
// matches.
func PickLang(cookie, acceptLanguage string) string {
	if cookie == LangEN || cookie == LangZH {
		return cookie
	}
	// Each entry on its own, so one malformed entry does not void the rest.
	type weighted struct {
		tag language.Tag
		q   float32
	}
	var entries []weighted
	for _, part := range strings.Split(acceptLanguage, ",") {
		tags, qs, err := language.ParseAcceptLanguage(part)
		if err != nil {
			continue
		}
		for i := range tags {
			entries = append(entries, weighted{tags[i], qs[i]})
		}
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].q > entries[j].q })
	tags := make([]language.Tag, len(entries))
	for i, e := range entries {
		tags[i] = e.tag
	}
	if len(tags) == 0 {
		return LangEN
	}
	_, i, conf := langMatcher.Match(tags...)
	if conf == language.No {
		return LangEN
	}
	return matchedLangs[i]
}

// langMatcher knows the supported languages, English first (the default).
var (
	matchedLangs = []string{LangEN, LangZH}
	langMatcher  = language.NewMatcher([]language.Tag{language.English, language.MustParse("zh-Hant-TW")})
)

// catalogue holds every visible string, one JSON file per language in
// locales/ (a key to its text; "X.one" / "X.other" are the plural forms
// of X where a language has them). The zh-TW wording follows the v2.8
// Image Builder document (客製化 image spec, 新增, 編輯, 刪除, 查看...).
var catalogue = loadCatalogue()

//go:embed locales/en.json locales/zh-TW.json
var locales embed.FS

// loadCatalogue reads the embedded catalogues; a broken one is a build
// defect, caught by every test of this package.
func loadCatalogue() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, lang := range matchedLangs {
		raw, err := locales.ReadFile("locales/" + lang + ".json")
		if err != nil {
			panic(err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(raw, &m); err != nil {
			panic(fmt.Sprintf("locales/%s.json: %v", lang, err))
		}
		out[lang] = m
	}
	return out
}
