package handlers

import (
	"errors"
	"runtime"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/settings"
	"imagebuilder/builder/spec"
	"imagebuilder/views"
)

// --- Package sources -------------------------------------------------------

// buildSettingsPage shows both forms; the one not being answered shows
// what is stored.
func (h *handler) buildSettingsPage(c *fiber.Ctx, status int, form *views.SourcesForm, lim *views.LimitsForm) error {
	if form == nil {
		s, err := h.Settings.Sources(c.UserContext())
		if err != nil {
			return err
		}
		f := sourcesForm(s)
		form = &f
	}
	if lim == nil {
		l, err := h.Settings.BuildLimits(c.UserContext())
		if err != nil {
			return err
		}
		f := limitsForm(l)
		lim = &f
	}
	lim.MachineCPUs = runtime.NumCPU()
	lim.Kubernetes = h.Executor.Kubernetes
	lim.Enforced = h.Can.StepLimits
	l := h.layout(c, "", "builds")
	l.Title = l.Loc.T("builds.title")
	form.Layout = l
	return render(c, status, l, views.BuildSettingsContent(*form, *lim))
}

func (h *handler) saveLimits(c *fiber.Ctx) error {
	memory, cpus := utils.CopyString(c.FormValue("memory")), utils.CopyString(c.FormValue("cpus"))
	l, err := settings.ParseLimits(memory, cpus)
	var verr spec.ValidationError
	if errors.As(err, &verr) {
		lim := views.LimitsForm{Memory: memory, CPUs: cpus, Errors: map[string][]string{}}
		for _, fe := range verr {
			lim.Errors[fe.Field] = append(lim.Errors[fe.Field], say(locOf(c), fe.Message))
		}
		return h.buildSettingsPage(c, fiber.StatusUnprocessableEntity, nil, &lim)
	}
	if err != nil {
		return err
	}
	if err := h.Settings.SaveBuildLimits(c.UserContext(), l); err != nil {
		return err
	}
	return redirectAfterPost(c, "/settings/builds?limits=saved")
}

// sourcesForm shows stored sources with every credential masked.
func sourcesForm(s spec.Sources) views.SourcesForm { return formOfSources(s.Redacted()) }

// formOfSources puts sources into the form's fields as they are.
func formOfSources(s spec.Sources) views.SourcesForm {
	return views.SourcesForm{PipIndexURL: s.PipIndexURL, PipExtra: strings.Join(s.PipExtraIndexURLs, "\n"),
		PipTrusted: strings.Join(s.PipTrustedHosts, "\n"), CondaChannels: strings.Join(s.CondaChannels, "\n"),
		CondaOverride: s.CondaOverride, APTSource: s.APTSource, APTKey: s.APTKey}
}

func (h *handler) showBuildSettings(c *fiber.Ctx) error {
	s, err := h.Settings.Sources(c.UserContext())
	if err != nil {
		return err
	}
	l, err := h.Settings.BuildLimits(c.UserContext())
	if err != nil {
		return err
	}
	form, lim := sourcesForm(s), limitsForm(l)
	form.Saved, lim.Saved = c.Query("sources") == "saved", c.Query("limits") == "saved"
	return h.buildSettingsPage(c, fiber.StatusOK, &form, &lim)
}

// limitsForm shows stored limits as an administrator would type them.
func limitsForm(l executor.Limits) views.LimitsForm {
	var f views.LimitsForm
	if l.Memory > 0 {
		f.Memory = units.BytesSize(float64(l.Memory))
	}
	if l.CPUs > 0 {
		f.CPUs = strconv.FormatFloat(l.CPUs, 'f', -1, 64)
	}
	return f
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
		form := formOfSources(in)
		form.Errors = map[string][]string{}
		loc := locOf(c)
		for _, fe := range verr {
			msg := say(loc, fe.Message)
			if fe.Line > 0 {
				msg = loc.T("sources.line", fe.Line) + msg
			}
			form.Errors[fe.Field] = append(form.Errors[fe.Field], msg)
		}
		return h.buildSettingsPage(c, fiber.StatusUnprocessableEntity, &form, nil)
	}
	if err != nil {
		return err
	}
	return redirectAfterPost(c, "/settings/builds?sources=saved")
}
