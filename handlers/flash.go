package handlers

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gorilla/securecookie"

	"imagebuilder/views"
)

// Post/Redirect/Get: a form post answers with a redirect to a page the
// browser can reload, and what the post has to say travels in a flash: a
// short-lived cookie, sealed with the session keys (it may carry a new API
// token), that the next full page shows once and clears.

const flashCookie = "flash"

// flashMaxAge is how long a flash waits for its page (seconds).
const flashMaxAge = 120

// Flash kinds.
const (
	flashOK     = "ok"
	flashNotice = "notice"
)

// flash is what the next page says: a message key of the catalogue with
// its arguments, and for a new API token the token itself.
type flash struct {
	Kind string
	Key  string
	Args []string
	// Token is a new API token, shown once.
	Token string
}

// setFlash leaves f for the next full page.
func (h *handler) setFlash(c *fiber.Ctx, f flash) error {
	value, err := securecookie.EncodeMulti(flashCookie, f, h.auth.store.Codecs...)
	if err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{Name: flashCookie, Value: value, Path: "/", MaxAge: flashMaxAge,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: secureRequest(c)})
	return nil
}

// takeFlash returns the flash left for this page and clears it; only a
// full page takes it (never an htmx poll of part of one).
func (h *handler) takeFlash(c *fiber.Ctx) (flash, bool) {
	value := c.Cookies(flashCookie)
	if value == "" || c.Method() != fiber.MethodGet || isPartial(c) {
		return flash{}, false
	}
	c.Cookie(&fiber.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode, Secure: secureRequest(c)})
	var f flash
	if err := securecookie.DecodeMulti(flashCookie, value, &f, h.auth.store.Codecs...); err != nil {
		return flash{}, false
	}
	// A new token's page must not be kept by the browser or a proxy.
	if f.Token != "" {
		c.Set(fiber.HeaderCacheControl, "no-store")
	}
	return f, true
}

// flashView is the layout's part of a flash.
func flashView(loc views.Loc, f flash) views.Flash {
	return views.Flash{Kind: f.Kind, Text: loc.T(f.Key, anys(f.Args)...)}
}
