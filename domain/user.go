package domain

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Stable event type names of the user and session families. User events
// live in "user-<user uuid>", session events in "session-<family uuid>".
const (
	TypeUserRegistered       = "UserRegistered"
	TypeUserPasswordChanged  = "UserPasswordChanged"
	TypeUserRoleChanged      = "UserRoleChanged"
	TypeUserSettingsUpdated  = "UserSettingsUpdated"
	TypeAccountAccessGranted = "AccountAccessGranted"
	TypeAccountAccessRevoked = "AccountAccessRevoked"
	TypeSessionStarted       = "SessionStarted"
	TypeSessionRefreshed     = "SessionRefreshed"
	TypeSessionRevoked       = "SessionRevoked"
)

// UserStream returns the stream of a user: "user-<user id>".
func UserStream(userID string) string { return "user-" + userID }

// SessionStream returns the stream of a login session (one refresh-token
// family): "session-<family id>".
func SessionStream(family string) string { return "session-" + family }

// PaperAccount returns the paper account every user gets on registration:
// "paper-<username>".
func PaperAccount(username string) string { return "paper-" + username }

// Role is what a user may do: admin (everything, every account), trader
// (read and trade the accounts granted to it) or viewer (read only).
type Role string

// The roles.
const (
	RoleAdmin  Role = "admin"
	RoleTrader Role = "trader"
	RoleViewer Role = "viewer"
)

// Valid reports whether r is admin, trader or viewer.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleTrader || r == RoleViewer }

// ParseRole accepts admin, trader or viewer in any case.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.Valid() {
		return "", fmt.Errorf("role %q: want admin, trader or viewer", s)
	}
	return r, nil
}

// Username rules: 2 to 32 characters, lower-case ASCII letters, digits,
// '.', '_' and '-', starting with a letter (so that "paper-<username>" is a
// readable account id).
const (
	MinUsernameLen = 2
	MaxUsernameLen = 32
)

// ValidUsername reports why name is not a valid username, or "" when it is.
func ValidUsername(name string) string {
	if len(name) < MinUsernameLen || len(name) > MaxUsernameLen {
		return fmt.Sprintf("must be %d to %d characters, got %d", MinUsernameLen, MaxUsernameLen, len(name))
	}
	if name[0] < 'a' || name[0] > 'z' {
		return "must start with a lower-case letter"
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Sprintf("may hold only a-z, 0-9, '.', '_' and '-', got %q", r)
		}
	}
	return ""
}

// Settings limits: a user's settings are a small map of UI preferences.
const (
	MaxSettings          = 64
	MaxSettingKeyLen     = 64
	MaxSettingValueBytes = 1024
)

// Session revocation reasons.
const (
	RevokeLogout          = "logout"
	RevokeReuse           = "reuse"
	RevokePasswordChanged = "password_changed"
	RevokeAdmin           = "admin"
)

func (c *checker) uuidField(field, v string) {
	if _, err := uuid.Parse(v); err != nil || len(v) != 36 {
		c.fail(field, "must be a UUID, got %q", v)
	}
}

func (c *checker) username(field, v string) {
	if why := ValidUsername(v); why != "" {
		c.fail(field, "%s", why)
	}
}

func (c *checker) role(field string, r Role) {
	if !r.Valid() {
		c.fail(field, "must be admin, trader or viewer, got %q", r)
	}
}

// passwordHash checks a PHC string ("$argon2id$v=19$m=...,t=...,p=...$salt$hash");
// the hashing package checks the parameters, this only the shape.
func (c *checker) passwordHash(field, v string) {
	if !strings.HasPrefix(v, "$argon2id$") || strings.Count(v, "$") != 5 || len(v) > 512 {
		c.fail(field, "must be an argon2id PHC string")
	}
}

// tokenHash checks a SHA-256 hex digest.
func (c *checker) tokenHash(field, v string) {
	if len(v) != 64 || strings.Trim(v, "0123456789abcdef") != "" {
		c.fail(field, "must be a lower-case hex SHA-256 digest")
	}
}

func (c *checker) account(field, v string) {
	c.nonEmpty(field, v)
	if len(v) > 128 || strings.ContainsAny(v, ",\x00\r\n") {
		c.fail(field, "must be at most 128 bytes without commas or control characters")
	}
}

// UserRegistered records a new user: its id, login name, role, password
// hash (argon2id, PHC format: the parameters travel with the hash) and the
// paper account it was given.
type UserRegistered struct {
	UserID       string    `json:"user_id"`
	Username     string    `json:"username"`
	Role         Role      `json:"role"`
	PasswordHash string    `json:"password_hash"`
	PaperAccount string    `json:"paper_account"`
	By           string    `json:"by"`
	At           time.Time `json:"at"`
}

// EventType implements Event.
func (UserRegistered) EventType() string { return TypeUserRegistered }

// Validate implements Event.
func (e UserRegistered) Validate() error {
	c := checker{typ: TypeUserRegistered}
	c.uuidField("user_id", e.UserID)
	c.username("username", e.Username)
	c.role("role", e.Role)
	c.passwordHash("password_hash", e.PasswordHash)
	if e.PaperAccount != PaperAccount(e.Username) {
		c.fail("paper_account", "must be %q, got %q", PaperAccount(e.Username), e.PaperAccount)
	}
	c.nonEmpty("by", e.By)
	c.timeSet("at", e.At)
	return c.result()
}

// UserPasswordChanged records a user's new password hash.
type UserPasswordChanged struct {
	UserID       string    `json:"user_id"`
	PasswordHash string    `json:"password_hash"`
	By           string    `json:"by"`
	At           time.Time `json:"at"`
}

// EventType implements Event.
func (UserPasswordChanged) EventType() string { return TypeUserPasswordChanged }

// Validate implements Event.
func (e UserPasswordChanged) Validate() error {
	c := checker{typ: TypeUserPasswordChanged}
	c.uuidField("user_id", e.UserID)
	c.passwordHash("password_hash", e.PasswordHash)
	c.nonEmpty("by", e.By)
	c.timeSet("at", e.At)
	return c.result()
}

// UserRoleChanged records a user's new role and who changed it.
type UserRoleChanged struct {
	UserID string    `json:"user_id"`
	Role   Role      `json:"role"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
}

// EventType implements Event.
func (UserRoleChanged) EventType() string { return TypeUserRoleChanged }

// Validate implements Event.
func (e UserRoleChanged) Validate() error {
	c := checker{typ: TypeUserRoleChanged}
	c.uuidField("user_id", e.UserID)
	c.role("role", e.Role)
	c.nonEmpty("by", e.By)
	c.timeSet("at", e.At)
	return c.result()
}

// UserSettingsUpdated records a user's complete new settings (UI
// preferences): at most MaxSettings keys of 1-MaxSettingKeyLen characters
// (a-z, 0-9, '.', '_', '-'), values of at most MaxSettingValueBytes of UTF-8.
// An empty map clears them.
type UserSettingsUpdated struct {
	UserID   string            `json:"user_id"`
	Settings map[string]string `json:"settings"`
	At       time.Time         `json:"at"`
}

// EventType implements Event.
func (UserSettingsUpdated) EventType() string { return TypeUserSettingsUpdated }

// Validate implements Event.
func (e UserSettingsUpdated) Validate() error {
	c := checker{typ: TypeUserSettingsUpdated}
	c.uuidField("user_id", e.UserID)
	if why := ValidSettings(e.Settings); why != "" {
		c.fail("settings", "%s", why)
	}
	c.timeSet("at", e.At)
	return c.result()
}

// ValidSettings reports why m is not a valid settings map, or "" when it
// is. Keys are checked in sorted order so that the answer is stable.
func ValidSettings(m map[string]string) string {
	if len(m) > MaxSettings {
		return fmt.Sprintf("at most %d keys, got %d", MaxSettings, len(m))
	}
	var bad []string
	for k, v := range m {
		switch {
		case k == "" || len(k) > MaxSettingKeyLen || strings.Trim(k, "abcdefghijklmnopqrstuvwxyz0123456789._-") != "":
			bad = append(bad, fmt.Sprintf("key %q must be 1-%d characters of a-z, 0-9, '.', '_', '-'", k, MaxSettingKeyLen))
		case len(v) > MaxSettingValueBytes || !utf8.ValidString(v):
			bad = append(bad, fmt.Sprintf("value of %q must be at most %d bytes of UTF-8", k, MaxSettingValueBytes))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	first := bad[0]
	for _, b := range bad[1:] {
		if b < first {
			first = b
		}
	}
	return first
}

// AccountAccess is the payload of AccountAccessGranted and
// AccountAccessRevoked: which user, which account, and who decided.
type AccountAccess struct {
	UserID  string    `json:"user_id"`
	Account string    `json:"account"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

func (e AccountAccess) validate(typ string) error {
	c := checker{typ: typ}
	c.uuidField("user_id", e.UserID)
	c.account("account", e.Account)
	c.nonEmpty("by", e.By)
	c.timeSet("at", e.At)
	return c.result()
}

// AccountAccessGranted lets a user see (and, as a trader, trade) an account
// besides its own paper account.
type AccountAccessGranted struct{ AccountAccess }

// AccountAccessRevoked takes a granted account away from a user.
type AccountAccessRevoked struct{ AccountAccess }

// EventType implements Event.
func (AccountAccessGranted) EventType() string { return TypeAccountAccessGranted }

// EventType implements Event.
func (AccountAccessRevoked) EventType() string { return TypeAccountAccessRevoked }

// Validate implements Event.
func (e AccountAccessGranted) Validate() error { return e.validate(TypeAccountAccessGranted) }

// Validate implements Event.
func (e AccountAccessRevoked) Validate() error { return e.validate(TypeAccountAccessRevoked) }

// SessionStarted records a login: a new refresh-token family. TokenHash is
// the SHA-256 (hex) of the refresh token; the token itself is never stored.
type SessionStarted struct {
	Family     string    `json:"family"`
	UserID     string    `json:"user_id"`
	TokenHash  string    `json:"token_hash"`
	ExpiresAt  time.Time `json:"expires_at"`
	RemoteAddr string    `json:"remote_addr,omitempty"`
	At         time.Time `json:"at"`
}

// EventType implements Event.
func (SessionStarted) EventType() string { return TypeSessionStarted }

// Validate implements Event.
func (e SessionStarted) Validate() error {
	c := checker{typ: TypeSessionStarted}
	c.uuidField("family", e.Family)
	c.uuidField("user_id", e.UserID)
	c.tokenHash("token_hash", e.TokenHash)
	c.timeSet("expires_at", e.ExpiresAt)
	if len(e.RemoteAddr) > 256 {
		c.fail("remote_addr", "must be at most 256 bytes")
	}
	c.timeSet("at", e.At)
	if !e.At.IsZero() && !e.ExpiresAt.After(e.At) {
		c.fail("expires_at", "must be after at")
	}
	return c.result()
}

// SessionRefreshed records a refresh-token rotation: TokenHash replaces the
// family's previous token, which from now on is a reuse.
type SessionRefreshed struct {
	Family    string    `json:"family"`
	TokenHash string    `json:"token_hash"`
	ExpiresAt time.Time `json:"expires_at"`
	At        time.Time `json:"at"`
}

// EventType implements Event.
func (SessionRefreshed) EventType() string { return TypeSessionRefreshed }

// Validate implements Event.
func (e SessionRefreshed) Validate() error {
	c := checker{typ: TypeSessionRefreshed}
	c.uuidField("family", e.Family)
	c.tokenHash("token_hash", e.TokenHash)
	c.timeSet("expires_at", e.ExpiresAt)
	c.timeSet("at", e.At)
	if !e.At.IsZero() && !e.ExpiresAt.After(e.At) {
		c.fail("expires_at", "must be after at")
	}
	return c.result()
}

// SessionRevoked ends a session family: its refresh tokens and the access
// tokens issued under it are refused from now on. Reason is logout, reuse
// (a rotated refresh token was presented again), password_changed or admin.
type SessionRevoked struct {
	Family string    `json:"family"`
	UserID string    `json:"user_id"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// EventType implements Event.
func (SessionRevoked) EventType() string { return TypeSessionRevoked }

// Validate implements Event.
func (e SessionRevoked) Validate() error {
	c := checker{typ: TypeSessionRevoked}
	c.uuidField("family", e.Family)
	c.uuidField("user_id", e.UserID)
	switch e.Reason {
	case RevokeLogout, RevokeReuse, RevokePasswordChanged, RevokeAdmin:
	default:
		c.fail("reason", "must be logout, reuse, password_changed or admin, got %q", e.Reason)
	}
	c.timeSet("at", e.At)
	return c.result()
}
