package message

import "testing"

// A frozen code stays when the wording changes; any other format's code
// comes from its wording.
func TestCodesAreFrozenAndUnique(t *testing.T) {
	if got := New("%q is listed twice (first on line %d)", "jq", 1).Code(); got != "is-listed-twice-first-on-line" {
		t.Errorf("frozen code %q", got)
	}
	// A reworded format keeps the code it had.
	reworded := "%q appears twice (first on line %d)"
	codes[reworded] = "is-listed-twice-first-on-line"
	defer delete(codes, reworded)
	if got := New(reworded, "jq", 1).Code(); got != "is-listed-twice-first-on-line" || DerivedCode(reworded) == got {
		t.Errorf("a reworded format's code %q (derived %q)", got, DerivedCode(reworded))
	}
	if got := New("%q is nothing we know of", "x").Code(); got != "is-nothing-we-know-of" {
		t.Errorf("derived code %q", got)
	}
	// Two formats may share a code only when one is the other reworded.
	seen := map[string]string{}
	shared := map[string]bool{"is-not-an-http-or-https-url": true}
	for format, code := range codes {
		if format == reworded {
			continue
		}
		if other, ok := seen[code]; ok && !shared[code] {
			t.Errorf("%q and %q share the code %s", format, other, code)
		}
		seen[code] = format
	}
}
