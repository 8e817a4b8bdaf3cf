package handlers

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"

	"imagebuilder/builder/engine"
	"imagebuilder/builder/executor"
	"imagebuilder/builder/spec"
	"imagebuilder/views"
)

// BaseInspector says what a base image offers (the build engine).
type BaseInspector interface {
	InspectBase(ctx context.Context, ref string, pullSecret []byte) (engine.BaseInfo, error)
}

// checkBase answers the form's live checks of the base image against the
// package lists: warnings next to the fields concerned, before Confirm.
// It stores nothing and never blocks a save.
func (h *handler) checkBase(c *fiber.Ctx) error {
	in, form := specFromForm(c)
	loc := locOf(c)
	v := views.BaseCheck{Loc: loc, Warnings: map[string][]string{}}
	if h.Inspector != nil && in.BaseImage != "" {
		secretName := in.PullSecret
		if secretName == "" {
			secretName, _ = h.DB.BaseImagePullSecret(c.UserContext(), in.BaseImage)
		}
		var secret []byte
		if secretName != "" {
			secret, _ = h.Settings.PullSecret(c.UserContext(), secretName)
		}
		info, err := h.Inspector.InspectBase(c.UserContext(), in.BaseImage, secret)
		var auth *executor.AuthError
		switch {
		case errors.As(err, &auth):
			v.Warnings["baseImage"] = append(v.Warnings["baseImage"], loc.T("check.base.refused"))
		case errors.Is(err, engine.ErrBaseNotFound):
			v.Warnings["baseImage"] = append(v.Warnings["baseImage"], loc.T("check.base.missing"))
		case err != nil:
			v.Warnings["baseImage"] = append(v.Warnings["baseImage"], loc.T("check.base.error"))
		default:
			v.Info = views.BaseInfo{OS: info.OS, Arch: info.Arch, User: info.User, Tools: info.Tools}
			if len(in.APT) > 0 && !info.Tools["apt-get"] {
				v.Warnings["apt"] = append(v.Warnings["apt"], loc.T("check.apt.none"))
			}
			if len(in.Conda) > 0 && !info.Tools["conda"] {
				v.Warnings["conda"] = append(v.Warnings["conda"], loc.T("check.conda.none"))
			}
			if len(in.Pip) > 0 && !info.Tools["pip"] && !hasLine(form.APT, "python3-pip") {
				v.Warnings["pip"] = append(v.Warnings["pip"], loc.T("check.pip.none"))
				v.OfferPip = info.Tools["apt-get"]
			}
		}
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return views.BaseCheckResult(v).Render(c.UserContext(), c)
}

// hasLine reports whether a textarea's text has line as one of its lines.
func hasLine(text, line string) bool {
	for _, l := range spec.PackageLines(spec.SplitLines(text)) {
		if l.Text == line {
			return true
		}
	}
	return false
}
