package e2e

import (
	"strings"
	"testing"

	"github.com/playwright-community/playwright-go"
)

// overflowJS finds text that does not fit its box on the current page,
// dialogs included: an element whose content is wider than itself while it
// does not scroll (overflow visible, hidden or clip), or whose box reaches
// past an ancestor that clips it. Scrolling containers (the log) are
// meant to scroll and are skipped; so is what is not shown.
const overflowJS = `() => {
  const out = [];
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.dataset && el.dataset.testid ? "[data-testid=" + el.dataset.testid + "]" : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "");
  const scrolls = cs => cs.overflowX === "auto" || cs.overflowX === "scroll";
  const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  for (const el of document.querySelectorAll("body *")) {
    if (!shown(el) || el.closest("pre.log")) continue;
    const cs = getComputedStyle(el);
    if (cs.display === "inline" || cs.display === "contents") continue;
    const hasText = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim() !== "");
    if (!hasText && !["INPUT", "SELECT", "BUTTON", "TEXTAREA"].includes(el.tagName)) continue;
    if (!scrolls(cs) && el.scrollWidth > el.clientWidth + 1 && el.tagName !== "TEXTAREA" && el.tagName !== "INPUT") {
      out.push(name(el) + " is " + (el.scrollWidth - el.clientWidth) + "px too narrow for “" + el.textContent.trim().slice(0, 60) + "”");
      continue;
    }
    const r = el.getBoundingClientRect();
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const acs = getComputedStyle(a);
      if (scrolls(acs)) break;
      if (acs.overflowX === "hidden" || acs.overflowX === "clip" || a.tagName === "DIALOG") {
        const ar = a.getBoundingClientRect();
        if (r.right > ar.right + 1 || r.left < ar.left - 1) {
          out.push(name(el) + " runs " + Math.round(Math.max(r.right - ar.right, ar.left - r.left)) + "px past " + name(a) + ": “" + el.textContent.trim().slice(0, 60) + "”");
        }
        break;
      }
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) {
    out.push("the page scrolls sideways: " + document.documentElement.scrollWidth + "px wide in a " + window.innerWidth + "px window");
  }
  return out;
}`

// textOverflow returns the overflowing elements of the page as it is now.
func textOverflow(t *testing.T, page playwright.Page) []string {
	t.Helper()
	res, err := page.Evaluate(overflowJS)
	if err != nil {
		t.Fatalf("overflow check: %v", err)
	}
	var out []string
	if list, ok := res.([]interface{}); ok {
		for _, v := range list {
			out = append(out, v.(string))
		}
	}
	return out
}

// checkOverflow fails the test for text that does not fit, at the page's
// width and at 800 px, then puts the width back.
func checkOverflow(t *testing.T, page playwright.Page, what string) {
	t.Helper()
	size := page.ViewportSize()
	widths := []int{size.Width}
	if size.Width != 800 {
		widths = append(widths, 800)
	}
	for _, w := range widths {
		if w != size.Width {
			must(t, page.SetViewportSize(w, size.Height))
		}
		if bad := textOverflow(t, page); len(bad) > 0 {
			t.Errorf("%s at %d px (%s): text does not fit:\n  %s", what, w, page.URL(), strings.Join(bad, "\n  "))
		}
	}
	if widths[len(widths)-1] != size.Width {
		must(t, page.SetViewportSize(size.Width, size.Height))
	}
}
