package handlers

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"

	"imagebuilder/views"
)

// sessionHandle names a session on the account page without revealing
// its ID (which is what the cookie carries).
func sessionHandle(id string) string {
	sum := sha256.Sum256([]byte("imagebuilder-session-handle:" + id))
	return hex.EncodeToString(sum[:12])
}

func (h *handler) accountPage(c *fiber.Ctx, status int, errs map[string][]string, notice string, with ...func(*views.AccountPage)) error {
	s, _ := sessionOf(c)
	sessions, err := h.DB.ListSessions(c.UserContext(), s.AdminID)
	if err != nil {
		return err
	}
	l := h.layout(c, "", "account")
	l.Title = l.Loc.T("account.title")
	v := views.AccountPage{Layout: l, Errors: errs, Notice: notice, NewToken: l.NewToken}
	for _, x := range sessions {
		v.Sessions = append(v.Sessions, views.SessionRow{Handle: sessionHandle(x.ID), Current: x.ID == s.ID,
			CreatedAt: x.CreatedAt, LastSeen: x.LastSeen, Address: x.Address, UserAgent: x.UserAgent})
	}
	for _, f := range with {
		f(&v)
	}
	if err := h.fillTokens(c, &v); err != nil {
		return err
	}
	return render(c, status, l, views.AccountContent(v))
}

func (h *handler) showAccount(c *fiber.Ctx) error {
	notice := ""
	switch c.Query("done") {
	case "password":
		notice = locOf(c).T("account.password.changed")
	case "ended":
		notice = locOf(c).T("account.sessions.ended")
	case "token-deleted":
		notice = locOf(c).T("tokens.deleted")
	}
	return h.accountPage(c, fiber.StatusOK, nil, notice)
}

// endSession signs out one of the administrator's own sessions.
func (h *handler) endSession(c *fiber.Ctx) error {
	s, _ := sessionOf(c)
	sessions, err := h.DB.ListSessions(c.UserContext(), s.AdminID)
	if err != nil {
		return err
	}
	for _, x := range sessions {
		if sessionHandle(x.ID) == c.Params("handle") {
			if _, err := h.DB.EndSessions(c.UserContext(), s.AdminID, "", x.ID); err != nil {
				return err
			}
			if x.ID == s.ID {
				h.setSessionCookie(c, "", -1)
				return redirectAfterPost(c, "/login")
			}
			return redirectAfterPost(c, "/account?done=ended")
		}
	}
	return fiber.NewError(fiber.StatusNotFound, locOf(c).T("account.session.gone"))
}

// endOtherSessions signs out every session of the administrator but this one.
func (h *handler) endOtherSessions(c *fiber.Ctx) error {
	s, _ := sessionOf(c)
	if _, err := h.DB.EndSessions(c.UserContext(), s.AdminID, s.ID); err != nil {
		return err
	}
	return redirectAfterPost(c, "/account?done=ended")
}

// changePassword checks the current password, sets the new one and ends
// every other session of the administrator.
func (h *handler) changePassword(c *fiber.Ctx) error {
	s, _ := sessionOf(c)
	loc := locOf(c)
	admin, err := h.DB.GetAdminByUsername(c.UserContext(), s.Username)
	if err != nil {
		return err
	}
	errs := map[string][]string{}
	pw, confirm := c.FormValue("new"), c.FormValue("confirm")
	switch {
	case bcrypt.CompareHashAndPassword([]byte(admin.PasswordHash), []byte(c.FormValue("current"))) != nil:
		errs["current"] = []string{loc.T("account.password.wrong")}
	case pw != confirm:
		errs["confirm"] = []string{loc.T("setup.mismatch")}
	case len(pw) < minPasswordLen:
		errs["new"] = []string{loc.T("setup.short", minPasswordLen)}
	case len(pw) > maxPasswordLen:
		errs["new"] = []string{loc.T("setup.long", maxPasswordLen)}
	}
	if len(errs) > 0 {
		return h.accountPage(c, fiber.StatusUnprocessableEntity, errs, "")
	}
	hash, err := HashPassword(pw)
	if err != nil {
		return err
	}
	if err := h.DB.SetAdminPassword(c.UserContext(), admin.Username, hash, s.ID); err != nil {
		return err
	}
	return redirectAfterPost(c, "/account?done=password")
}
