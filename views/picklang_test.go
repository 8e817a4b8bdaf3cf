package views

import "testing"

func TestPickLangNegotiatesQualityValues(t *testing.T) {
	for _, c := range []struct{ cookie, header, want string }{
		{"", "", LangEN},
		{"", "en-US,en;q=0.9", LangEN},
		{"", "zh-TW,zh;q=0.9,en;q=0.8", LangZH},
		{"", "en;q=0.1, zh-TW", LangZH},
		{"", "zh-Hant", LangZH},
		{"", "zh-HK", LangZH},
		{"", "zh", LangZH},
		{"", "fr-FR, de;q=0.5", LangEN},
		{"", "de, en;q=0.5, zh-TW;q=0.2", LangEN},
		{"", "not a header;;", LangEN},
		{"", "en;q=0.2, x-bad-;q=oops, zh-TW;q=0.9", LangZH},
		{"", "zh-CN", LangZH},
		{LangZH, "en", LangZH},
		{LangEN, "zh-TW", LangEN},
		{"klingon", "zh-TW", LangZH},
	} {
		if got := PickLang(c.cookie, c.header); got != c.want {
			t.Errorf("PickLang(%q, %q) = %q, want %q", c.cookie, c.header, got, c.want)
		}
	}
}
