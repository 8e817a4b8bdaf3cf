package handlers

import (
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"imagebuilder/builder/registry"
	"imagebuilder/builder/settings"
	"imagebuilder/builder/spec"
	"imagebuilder/db"
	"imagebuilder/views"
)

// --- Image Management ------------------------------------------------------

func (h *handler) imagesPage(c *fiber.Ctx, status int, editID int64, form views.BaseImageOption, errs map[string][]string) error {
	images, err := h.DB.ListBaseImages(c.UserContext())
	if err != nil {
		return err
	}
	secrets, err := h.DB.ListPullSecrets(c.UserContext())
	if err != nil {
		return err
	}
	l := h.layout(c, "", "images")
	l.Title = l.Loc.T("images.title")
	v := views.BaseImagesPage{BaseImages: views.BaseImages{Layout: l}, EditID: editID, Form: form, Errors: errs}
	for _, b := range images {
		v.Images = append(v.Images, baseImageOption(b))
	}
	for _, s := range secrets {
		v.PullSecrets = append(v.PullSecrets, s.Name)
	}
	return render(c, status, l, views.ImagesContent(v))
}

func baseImageOption(b db.BaseImage) views.BaseImageOption {
	return views.BaseImageOption{ID: b.ID, Name: b.Name, Reference: b.Reference, Description: b.Description, PullSecret: b.PullSecret}
}

func (h *handler) listImages(c *fiber.Ctx) error {
	return h.imagesPage(c, fiber.StatusOK, 0, views.BaseImageOption{}, nil)
}

func (h *handler) editImage(c *fiber.Ctx) error {
	id, _ := strconv.ParseInt(c.Params("id"), 10, 64)
	b, err := h.DB.GetBaseImage(c.UserContext(), id)
	if err != nil {
		return err
	}
	return h.imagesPage(c, fiber.StatusOK, b.ID, baseImageOption(b), nil)
}

func (h *handler) saveImage(c *fiber.Ctx) error {
	id, _ := strconv.ParseInt(c.Params("id", "0"), 10, 64)
	form := views.BaseImageOption{
		ID:          id,
		Name:        utils.CopyString(strings.TrimSpace(c.FormValue("name"))),
		Reference:   utils.CopyString(strings.TrimSpace(c.FormValue("reference"))),
		Description: utils.CopyString(strings.TrimSpace(c.FormValue("description"))),
		PullSecret:  utils.CopyString(c.FormValue("pullSecret")),
	}
	loc := locOf(c)
	b := db.BaseImage{ID: id, Name: form.Name, Reference: form.Reference, Description: form.Description, PullSecret: form.PullSecret}
	err := h.checkBaseImage(c, b)
	errs := fieldErrors(loc, err)
	if err != nil && errs == nil {
		return err
	}
	if errs == nil {
		errs = map[string][]string{}
	}
	if len(errs) == 0 {
		_, err := h.DB.SaveBaseImage(c.UserContext(), b)
		switch {
		case err == nil:
			return redirectAfterPost(c, "/images")
		case errors.Is(err, db.ErrConflict):
			errs["reference"] = append(errs["reference"], say(loc, err))
		default:
			return err
		}
	}
	return h.imagesPage(c, fiber.StatusUnprocessableEntity, id, form, errs)
}

func (h *handler) deleteImage(c *fiber.Ctx) error {
	id, _ := strconv.ParseInt(c.Params("id"), 10, 64)
	if err := h.DB.DeleteBaseImage(c.UserContext(), id); err != nil {
		return err
	}
	return redirectAfterPost(c, "/images")
}

// --- Pull secrets ----------------------------------------------------------

func (h *handler) secretsPage(c *fiber.Ctx, status int, name string, errs map[string][]string) error {
	secrets, err := h.DB.ListPullSecrets(c.UserContext())
	if err != nil {
		return err
	}
	l := h.layout(c, "", "secrets")
	l.Title = l.Loc.T("secrets.title")
	v := views.SecretsPage{Layout: l, Name: name, Errors: errs}
	for _, s := range secrets {
		v.Names = append(v.Names, s.Name)
	}
	return render(c, status, l, views.SecretsContent(v))
}

func (h *handler) listSecrets(c *fiber.Ctx) error { return h.secretsPage(c, fiber.StatusOK, "", nil) }

func (h *handler) saveSecret(c *fiber.Ctx) error {
	name := utils.CopyString(strings.TrimSpace(c.FormValue("name")))
	content := []byte(strings.TrimSpace(c.FormValue("content")))
	err := h.Settings.SavePullSecret(c.UserContext(), name, content)
	var fe spec.FieldError
	if errors.As(err, &fe) {
		// The content is never sent back: the field comes back empty.
		return h.secretsPage(c, fiber.StatusUnprocessableEntity, name, map[string][]string{fe.Field: {say(locOf(c), fe.Message)}})
	}
	if err != nil {
		return err
	}
	return redirectAfterPost(c, "/settings/secrets")
}

func (h *handler) deleteSecret(c *fiber.Ctx) error {
	if err := h.DB.DeletePullSecret(c.UserContext(), utils.CopyString(c.Params("name"))); err != nil {
		return err
	}
	return redirectAfterPost(c, "/settings/secrets")
}

// --- Registry --------------------------------------------------------------

func (h *handler) registryPage(c *fiber.Ctx, status int, form views.RegistryForm) error {
	l := h.layout(c, "", "registry")
	l.Title = l.Loc.T("registry.settings")
	form.Layout = l
	form.EmbeddedHost = h.Settings.Fallback().Host
	form.Executor = h.Executor
	return render(c, status, l, views.RegistryContent(form))
}

func (h *handler) showRegistry(c *fiber.Ctx) error {
	rs, err := h.Settings.RegistrySettings(c.UserContext())
	if err != nil {
		return err
	}
	form := views.RegistryForm{External: rs.External, Insecure: rs.Insecure, HasPassword: rs.HasPassword(), Saved: c.Query("saved") == "1"}
	if rs.External {
		form.Host, form.Username = rs.Host, rs.Username
	}
	return h.registryPage(c, fiber.StatusOK, form)
}

// registryFromForm reads the form; the password is returned apart and
// never put back into a page.
func registryFromForm(c *fiber.Ctx) (settings.RegistrySettings, string) {
	return settings.RegistrySettings{
		External: c.FormValue("mode") == "external",
		Host:     utils.CopyString(strings.TrimSpace(c.FormValue("host"))),
		Username: utils.CopyString(strings.TrimSpace(c.FormValue("username"))),
		Insecure: c.FormValue("insecure") == "on",
	}, utils.CopyString(c.FormValue("password"))
}

func (h *handler) saveRegistry(c *fiber.Ctx) error {
	rs, password := registryFromForm(c)
	err := h.Settings.SaveRegistry(c.UserContext(), rs, password)
	var fe spec.FieldError
	if errors.As(err, &fe) {
		old, _ := h.Settings.RegistrySettings(c.UserContext())
		return h.registryPage(c, fiber.StatusUnprocessableEntity, views.RegistryForm{External: rs.External, Host: rs.Host,
			Username: rs.Username, Insecure: rs.Insecure, HasPassword: old.HasPassword(), Errors: map[string][]string{fe.Field: {say(locOf(c), fe.Message)}}})
	}
	if err != nil {
		return err
	}
	h.probe.forget()
	return redirectAfterPost(c, "/settings/registry?saved=1")
}

// testRegistry checks the registry in the form (or the embedded one)
// without saving; an empty password means the stored one.
func (h *handler) testRegistry(c *fiber.Ctx) error {
	rs, password := registryFromForm(c)
	reg := h.Settings.Fallback()
	if rs.External {
		if msg := registry.CheckHost(rs.Host); !msg.IsZero() {
			return h.registryTestAnswer(c, rs, views.TestResult{Host: rs.Host, Message: say(locOf(c), msg)})
		}
		reg = registry.Target{Host: rs.Host, Username: rs.Username, Password: password, Insecure: rs.Insecure}
		if password == "" {
			if stored, err := h.Settings.Registry(c.UserContext()); err == nil && stored.Host == rs.Host && stored.Username == rs.Username {
				reg.Password = stored.Password
			}
		}
	}
	res := views.TestResult{OK: true, Host: reg.Host}
	if err := registry.Check(c.UserContext(), reg, h.Settings.AllowLinkLocal); err != nil {
		res = views.TestResult{Host: reg.Host, Message: say(locOf(c), err)}
	}
	return h.registryTestAnswer(c, rs, res)
}

func (h *handler) registryTestAnswer(c *fiber.Ctx, rs settings.RegistrySettings, res views.TestResult) error {
	l := h.layout(c, "", "registry")
	if isPartial(c) {
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		return views.RegistryTestResult(l.Loc, res).Render(c.UserContext(), c)
	}
	old, _ := h.Settings.RegistrySettings(c.UserContext())
	return h.registryPage(c, fiber.StatusOK, views.RegistryForm{External: rs.External, Host: rs.Host, Username: rs.Username,
		Insecure: rs.Insecure, HasPassword: old.HasPassword(), TestResult: &res})
}
