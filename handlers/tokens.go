package handlers

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"imagebuilder/views"
)

// tokenDays are the lifetimes a new API token can have, in days; the
// first is the default.
var tokenDays = []string{"90", "7", "30", "365"}

// fillTokens adds every API token to the Account page.
func (h *handler) fillTokens(c *fiber.Ctx, v *views.AccountPage) error {
	tokens, err := h.DB.ListAPITokens(c.UserContext())
	if err != nil {
		return err
	}
	now := time.Now()
	for _, t := range tokens {
		if !t.Revoked.IsZero() {
			continue // deleted
		}
		state := "active"
		if !t.Valid(now) {
			state = "expired"
		}
		v.Tokens = append(v.Tokens, views.TokenRow{ID: t.ID, Name: t.Name, Hint: t.Hint, CreatedBy: t.CreatedBy,
			CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsed: t.LastUsed, State: state})
	}
	v.TokenDayChoices = tokenDays
	if v.TokenDays == "" {
		v.TokenDays = tokenDays[0]
	}
	return nil
}

// createToken makes an API token and shows it this once on the page it
// redirects to (in a sealed flash: the token is in no URL, and that page
// is not stored by the browser).
func (h *handler) createToken(c *fiber.Ctx) error {
	loc := locOf(c)
	name := utils.CopyString(strings.TrimSpace(c.FormValue("tokenName")))
	days := utils.CopyString(c.FormValue("tokenDays"))
	errs := map[string][]string{}
	switch {
	case name == "":
		errs["tokenName"] = append(errs["tokenName"], loc.T("tokens.name.required"))
	case utf8.RuneCountInString(name) > 64 || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }):
		errs["tokenName"] = append(errs["tokenName"], loc.T("tokens.name.bad"))
	}
	n, err := strconv.Atoi(days)
	if err != nil || !slices.Contains(tokenDays, days) {
		errs["tokenDays"] = append(errs["tokenDays"], loc.T("tokens.days.bad"))
	}
	if len(errs) > 0 {
		return h.accountPage(c, fiber.StatusUnprocessableEntity, errs, "", func(v *views.AccountPage) { v.TokenName, v.TokenDays = name, days })
	}
	s, _ := sessionOf(c)
	secret := APITokenPrefix + randomToken()
	if _, err := h.DB.CreateAPIToken(c.UserContext(), name, secret[:len(APITokenPrefix)+6], s.Username, tokenHash(secret),
		time.Now().Add(time.Duration(n)*24*time.Hour)); err != nil {
		return err
	}
	if err := h.setFlash(c, flash{Kind: flashOK, Key: "tokens.created.named", Args: []string{name}, Token: secret}); err != nil {
		return err
	}
	return redirectAfterPost(c, "/account#tokens")
}

// deleteToken stops a token from working and takes it off the page (the
// store keeps it as revoked, so a request with it is told so).
func (h *handler) deleteToken(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return fiber.ErrNotFound
	}
	if err := h.DB.RevokeAPIToken(c.UserContext(), id); err != nil {
		return err
	}
	return redirectAfterPost(c, "/account?done=token-deleted#tokens")
}
