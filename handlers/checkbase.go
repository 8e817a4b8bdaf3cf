package handlers

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"

	"imagebuilder/builder/executor"
	"imagebuilder/builder/registry"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
	"imagebuilder/views"
)

// BaseInspector says what a base image offers, read from its registry
// (package registry/images).
type BaseInspector interface {
	InspectBase(ctx context.Context, ref string, pullSecret []byte) (registry.BaseInfo, error)
}

// checkBase answers the form's live checks of the base image against the
// package lists: warnings next to the fields concerned, before Confirm.
// It stores nothing; what would certainly fail asks for a second Confirm
// (saveSpecForm).
func (h *handler) checkBase(c *fiber.Ctx) error {
	in, form := specFromForm(c)
	v, _ := h.inspectForm(c.UserContext(), locOf(c), in, form)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return views.BaseCheckResult(v).Render(c.UserContext(), c)
}

// certainFailures are the warnings of the form's base image check that
// will certainly fail the build (a package list the base has no tool
// for).
func (h *handler) certainFailures(ctx context.Context, loc views.Loc, in db.ImageSpec, form views.SpecForm) []string {
	_, certain := h.inspectForm(ctx, loc, in, form)
	return certain
}

// inspectForm checks the base image against the package lists. A base
// image reference that is not valid is not looked up: its field already
// says what is wrong with it.
func (h *handler) inspectForm(ctx context.Context, loc views.Loc, in db.ImageSpec, form views.SpecForm) (v views.BaseCheck, certain []string) {
	v = views.BaseCheck{Loc: loc, Warnings: map[string][]string{}}
	if h.Inspector == nil || in.BaseImage == "" || !validBase(in) {
		return v, nil
	}
	secretName := in.PullSecret
	if secretName == "" {
		secretName, _ = h.DB.BaseImagePullSecret(ctx, in.BaseImage)
	}
	var secret []byte
	if secretName != "" {
		secret, _ = h.Settings.PullSecret(ctx, secretName)
	}
	info, err := h.Inspector.InspectBase(ctx, in.BaseImage, secret)
	var auth *executor.AuthError
	switch {
	case errors.As(err, &auth):
		v.Warnings["baseImage"] = append(v.Warnings["baseImage"], loc.T("check.base.refused"))
	case errors.Is(err, registry.ErrBaseNotFound):
		v.Warnings["baseImage"] = append(v.Warnings["baseImage"], loc.T("check.base.missing"))
		certain = append(certain, loc.T("check.base.missing"))
	case err != nil:
		v.Warnings["baseImage"] = append(v.Warnings["baseImage"], loc.T("check.base.error"))
	default:
		v.Info = views.BaseInfo{OS: info.OS, Arch: info.Arch, User: info.User, Tools: info.Tools}
		warn := func(field, key string) {
			v.Warnings[field] = append(v.Warnings[field], loc.T(key))
			certain = append(certain, loc.T(key))
		}
		if len(in.APT) > 0 && !info.Tools["apt-get"] {
			warn("apt", "check.apt.none")
		}
		if len(in.Conda) > 0 && !info.Tools["conda"] {
			warn("conda", "check.conda.none")
		}
		if len(in.Pip) > 0 && !info.Tools["pip"] && !hasLine(form.APT, "python3-pip") {
			warn("pip", "check.pip.none")
			v.OfferPip = info.Tools["apt-get"]
		}
	}
	return v, certain
}

// validBase reports whether the spec's base image reference is valid.
func validBase(in db.ImageSpec) bool {
	var verr spec.ValidationError
	if err := spec.Validate(in); errors.As(err, &verr) {
		for _, e := range verr {
			if e.Field == spec.FieldBaseImage {
				return false
			}
		}
	}
	return true
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
