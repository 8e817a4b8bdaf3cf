package e2e

import (
	"fmt"
	"strings"
	"testing"
)

func TestImageManagementFeedsAutocompletionAndRegistrySettings(t *testing.T) {
	in := newInstance(t)
	busybox := in.importBase(baseTar(t, "busybox.tar"), "library/busybox:latest", "BusyBox")
	srv := in.serve()
	page := newPage(t, "en-US")
	shot := &shots{t: t, page: page}
	signIn(t, page, srv, "/images")
	must(t, expect.Locator(byTestID(page, "image-row")).ToHaveCount(1))
	added := "registry.example.com/team/python:3.11"
	must(t, byTestID(page, "image-name").Fill("Python 3.11"))
	must(t, byTestID(page, "image-reference").Fill("Not/A/Reference!"))
	must(t, byTestID(page, "image-save").Click())
	must(t, expect.Locator(byTestID(page, "image-reference-errors")).ToContainText("not a valid image reference"))
	must(t, byTestID(page, "image-reference").Fill(added))
	must(t, byTestID(page, "image-description").Fill("Team Python"))
	must(t, byTestID(page, "image-save").Click())
	must(t, expect.Locator(byTestID(page, "image-row")).ToHaveCount(2))
	shot.take("images")

	options := func() string {
		_, err := page.Goto(srv.url("/specs/new"))
		must(t, err)
		values, err := page.Locator("#base-images option").EvaluateAll(`os => os.map(o => o.value).join(" ")`)
		must(t, err)
		return fmt.Sprint(values)
	}
	if got := options(); !strings.Contains(got, added) || !strings.Contains(got, busybox) {
		t.Fatalf("autocompletion after add: %q", got)
	}
	_, err := page.Goto(srv.url("/images"))
	must(t, err)
	must(t, page.Locator(`[data-testid="image-row"][data-reference="`+added+`"] [data-testid="image-delete"]`).Click())
	must(t, expect.Locator(byTestID(page, "image-row")).ToHaveCount(1))
	if got := options(); strings.Contains(got, added) || !strings.Contains(got, busybox) {
		t.Fatalf("autocompletion after remove: %q", got)
	}

	// Registry settings: test a registry that does not answer, then the
	// embedded one.
	_, err = page.Goto(srv.url("/settings/registry"))
	must(t, err)
	must(t, byTestID(page, "registry-external").Check())
	must(t, byTestID(page, "registry-host").Fill(freeAddr(t)))
	must(t, byTestID(page, "registry-insecure").Check())
	must(t, byTestID(page, "registry-test").Click())
	result := byTestID(page, "registry-test-result")
	must(t, expect.Locator(result).ToHaveAttribute("data-ok", "false"))
	must(t, expect.Locator(result).ToContainText("unreachable: cannot connect"))
	shot.take("registry-test-failed")
	must(t, byTestID(page, "registry-host").Fill(in.regAddr))
	must(t, byTestID(page, "registry-test").Click())
	must(t, expect.Locator(result).ToHaveAttribute("data-ok", "true"))
	shot.take("registry-test-ok")
	must(t, byTestID(page, "registry-embedded").Check())
	must(t, byTestID(page, "registry-save").Click())
	must(t, expect.Locator(byTestID(page, "registry-saved")).ToBeVisible())
}

// Before Confirm, the form checks the base image against the package lists
// and warns next to the field concerned; "Add python3-pip to APT" fixes the
// missing pip on a Debian base in one click.
func TestFormWarnsAboutTheBaseImageBeforeConfirm(t *testing.T) {
	in := newInstance(t)
	debian := in.importBase(baseTar(t, "debian-bookworm.tar"), "library/debian:bookworm", "Debian")
	busybox := in.importBase(baseTar(t, "busybox.tar"), "library/busybox:latest", "BusyBox")
	srv := in.serve()
	page := newPage(t, "en-US")
	shot := &shots{t: t, page: page}
	signIn(t, page, srv, "/specs/new")
	must(t, byTestID(page, "name").Fill("checked"))
	must(t, byTestID(page, "pip").Fill("requests>=2.31"))
	must(t, byTestID(page, "conda").Fill("numpy"))
	must(t, byTestID(page, "base-image").Fill(busybox))
	must(t, byTestID(page, "base-image").Press("Tab"))
	must(t, expect.Locator(byTestID(page, "conda-warnings")).ToContainText("has no conda, mamba or micromamba"))
	must(t, expect.Locator(byTestID(page, "pip-warnings")).ToContainText("has no pip"))
	must(t, expect.Locator(byTestID(page, "add-python3-pip")).ToHaveCount(0)) // no apt-get to add it with
	shot.take("warnings-busybox")

	must(t, byTestID(page, "conda").Fill(""))
	must(t, byTestID(page, "base-image").Fill(debian))
	must(t, byTestID(page, "base-image").Press("Tab"))
	must(t, expect.Locator(byTestID(page, "base-info")).ToContainText("Debian GNU/Linux 12 (bookworm)"))
	must(t, expect.Locator(byTestID(page, "conda-warnings")).ToBeEmpty())
	must(t, expect.Locator(byTestID(page, "add-python3-pip")).ToBeVisible())
	shot.take("warnings-debian")
	must(t, byTestID(page, "add-python3-pip").Click())
	must(t, expect.Locator(byTestID(page, "apt")).ToHaveValue("python3-pip"))
	must(t, expect.Locator(byTestID(page, "pip-warnings")).ToBeEmpty())

	must(t, byTestID(page, "base-image").Fill(in.regAddr+"/library/no-such-image:1"))
	must(t, byTestID(page, "base-image").Press("Tab"))
	must(t, expect.Locator(byTestID(page, "baseImage-warnings")).ToContainText("does not exist in its registry"))
	shot.take("warnings-missing")
}
