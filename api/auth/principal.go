package auth

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/algoauto/algoauto/domain"
)

// Principal is the authenticated caller of a request: who, with which
// role, seeing which accounts, under which session.
type Principal struct {
	UserID   string      `json:"user_id"`
	Username string      `json:"username"`
	Role     domain.Role `json:"role"`
	// AllAccounts is true for admins: every account, including ones that
	// do not exist yet. Accounts then lists only the user's own.
	AllAccounts bool `json:"all_accounts"`
	// Accounts are the user's paper account and the accounts granted to
	// it, sorted.
	Accounts      []string `json:"accounts"`
	SessionFamily string   `json:"session"`
	// APIKeyID and Source are set when the caller is an API key (then
	// Role is trader and Accounts the key's one account); Source is the
	// source its signals are recorded under.
	APIKeyID string `json:"api_key,omitempty"`
	Source   string `json:"source,omitempty"`
}

// IsAdmin reports whether p has the admin role.
func (p Principal) IsAdmin() bool { return p.Role == domain.RoleAdmin }

// CanWrite reports whether p may change state (trade, control): admins
// and traders; viewers only read.
func (p Principal) CanWrite() bool { return p.Role == domain.RoleAdmin || p.Role == domain.RoleTrader }

// CanSee reports whether p may read account.
func (p Principal) CanSee(account string) bool {
	return p.AllAccounts || slices.Contains(p.Accounts, account)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p (the HTTP middleware does this for
// every authenticated request).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal of an authenticated request's
// context, and false when there is none (authentication is off, or the
// route is public).
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header (the scheme is case-insensitive).
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// Authenticate verifies the access token of r, taken from the
// Authorization header or, failing that, the access_token query parameter
// (browsers cannot set headers on a WebSocket handshake). Use it for
// WebSocket upgrades; the REST middleware accepts the header only (query
// strings end up in access logs). Errors match ErrNoToken or
// ErrInvalidToken.
func (s *Service) Authenticate(r *http.Request) (Principal, error) {
	tok, ok := BearerToken(r)
	if !ok {
		tok = r.URL.Query().Get("access_token")
	}
	if tok == "" {
		return Principal{}, ErrNoToken
	}
	return s.Verify(tok)
}
