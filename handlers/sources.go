package handlers

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"imagebuilder/builder/spec"
	"imagebuilder/views"
)

// --- Package sources -------------------------------------------------------

func (h *handler) sourcesPage(c *fiber.Ctx, status int, form views.SourcesForm) error {
	l := h.layout(c, "", "sources")
	l.Title = l.Loc.T("sources.title")
	form.Layout = l
	return render(c, status, l, views.SourcesContent(form))
}

// sourcesForm shows stored sources with every credential masked.
func sourcesForm(s spec.Sources) views.SourcesForm {
	r := s.Redacted()
	return views.SourcesForm{PipIndexURL: r.PipIndexURL, PipExtra: strings.Join(r.PipExtraIndexURLs, "\n"),
		PipTrusted: strings.Join(r.PipTrustedHosts, "\n"), CondaChannels: strings.Join(r.CondaChannels, "\n"),
		CondaOverride: r.CondaOverride, APTSource: r.APTSource, APTKey: r.APTKey}
}

func (h *handler) showSources(c *fiber.Ctx) error {
	s, err := h.Settings.Sources(c.UserContext())
	if err != nil {
		return err
	}
	form := sourcesForm(s)
	form.Saved = c.Query("saved") == "1"
	return h.sourcesPage(c, fiber.StatusOK, form)
}

// formLines is a textarea's non-blank lines, trimmed.
func formLines(c *fiber.Ctx, key string) []string {
	var out []string
	for _, l := range strings.Split(utils.CopyString(c.FormValue(key)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (h *handler) saveSources(c *fiber.Ctx) error {
	in := spec.Sources{
		PipIndexURL:       utils.CopyString(strings.TrimSpace(c.FormValue("pipIndexURL"))),
		PipExtraIndexURLs: formLines(c, "pipExtraIndexURLs"),
		PipTrustedHosts:   formLines(c, "pipTrustedHosts"),
		CondaChannels:     formLines(c, "condaChannels"),
		CondaOverride:     c.FormValue("condaOverride") == "on",
		APTSource:         utils.CopyString(strings.TrimSpace(c.FormValue("aptSource"))),
		APTKey:            utils.CopyString(strings.TrimSpace(c.FormValue("aptKey"))),
	}
	err := h.Settings.SaveSources(c.UserContext(), in)
	var verr spec.ValidationError
	if errors.As(err, &verr) {
		// The form comes back as it was sent: it never holds a stored
		// credential the page did not already show masked.
		form := views.SourcesForm{PipIndexURL: in.PipIndexURL, PipExtra: strings.Join(in.PipExtraIndexURLs, "\n"),
			PipTrusted: strings.Join(in.PipTrustedHosts, "\n"), CondaChannels: strings.Join(in.CondaChannels, "\n"),
			CondaOverride: in.CondaOverride, APTSource: in.APTSource, APTKey: in.APTKey, Errors: map[string][]string{}}
		loc := locOf(c)
		for _, fe := range verr {
			msg := say(loc, fe.Message)
			if fe.Line > 0 {
				msg = loc.T("sources.line", fe.Line) + msg
			}
			form.Errors[fe.Field] = append(form.Errors[fe.Field], msg)
		}
		return h.sourcesPage(c, fiber.StatusUnprocessableEntity, form)
	}
	if err != nil {
		return err
	}
	return redirectAfterPost(c, "/settings/sources?saved=1")
}
