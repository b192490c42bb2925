package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/algoauto/algoauto/api/auth"
	"github.com/algoauto/algoauto/domain"
)

// Authentication and authorization. When Deps.Auth is set, every route
// needs "Authorization: Bearer <access token>" except publicPaths; the
// principal goes into the request context (auth.PrincipalFrom). Admin-only
// routes and the viewer's read-only rule are enforced here, in one place,
// for every route, including ones added later; account scoping of read
// models is done by each handler through visibleAccounts.

// publicPaths are served without a token.
var publicPaths = map[string]bool{
	"/health": true, "/health/live": true, "/health/ready": true, "/metrics": true,
	"/api/market/market-status": true, "/auth/login": true, "/auth/refresh": true,
	"/api/v1/openapi.json": true,
}

// adminPatterns are the mux patterns only admins may use (besides every
// path under /api/v1/events).
var adminPatterns = map[string]bool{
	"POST /api/v1/projections/{name}/rebuild":      true,
	"GET /api/v1/errors/recent":                    true,
	"GET /api/v1/users":                            true,
	"GET /api/v1/users/{$}":                        true,
	"POST /api/v1/users":                           true,
	"POST /api/v1/users/{$}":                       true,
	"PUT /api/v1/users/{id}/role":                  true,
	"POST /api/v1/users/{id}/accounts":             true,
	"DELETE /api/v1/users/{id}/accounts/{account}": true,
	"GET /api/v1/api-keys":                         true,
	"POST /api/v1/api-keys":                        true,
	"DELETE /api/v1/api-keys/{id}":                 true,
}

// apiKeyPattern is the only route an API key (X-API-Key, no bearer token)
// may use.
const apiKeyPattern = "POST /api/v1/signals"

// selfServicePatterns are writes a viewer may make: about its own login.
var selfServicePatterns = map[string]bool{
	"POST /auth/logout":          true,
	"PUT /api/v1/users/profile":  true,
	"PUT /api/v1/users/settings": true,
}

func (s *Server) authRoutes() {
	s.mux.HandleFunc("POST /auth/login", s.handleLogin)
	s.mux.HandleFunc("POST /auth/refresh", s.handleRefresh)
	s.mux.HandleFunc("POST /auth/logout", s.handleLogout)
	s.mux.HandleFunc("GET /auth/verify", s.handleVerify)
	// The users collection is /api/v1/users/; /api/v1/users answers the
	// same, rather than redirect (a 301 or 302 turns a POST into a GET in
	// most clients). The paths under it take no trailing slash.
	for _, p := range []string{"/api/v1/users/{$}", "/api/v1/users"} {
		s.mux.HandleFunc("GET "+p, s.handleUsers)
		s.mux.HandleFunc("POST "+p, s.handleAddUser)
	}
	s.mux.HandleFunc("GET /api/v1/users/current", s.handleCurrentUser)
	s.mux.HandleFunc("GET /api/v1/users/profile", s.handleProfile)
	s.mux.HandleFunc("PUT /api/v1/users/profile", s.handleChangePassword)
	s.mux.HandleFunc("GET /api/v1/users/settings", s.handleSettings)
	s.mux.HandleFunc("PUT /api/v1/users/settings", s.handleUpdateSettings)
	s.mux.HandleFunc("PUT /api/v1/users/{id}/role", s.handleSetRole)
	s.mux.HandleFunc("POST /api/v1/users/{id}/accounts", s.handleGrant)
	s.mux.HandleFunc("DELETE /api/v1/users/{id}/accounts/{account}", s.handleRevokeAccount)
	s.apiKeyRoutes()
}

// authenticate wraps next: public paths pass; everything else needs a
// valid access token (a WebSocket upgrade may carry it as ?access_token=)
// and a role that allows the route. POST /api/v1/signals also takes an API
// key (X-API-Key) instead of a token; on any other route a key without a
// token is a 401.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if publicPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		var p auth.Principal
		var err error
		if tok, ok := auth.BearerToken(r); ok {
			p, err = s.auth.Verify(tok)
		} else if key, ok := auth.APIKeyFrom(r); ok {
			if _, pattern := s.mux.Handler(r); pattern == apiKeyPattern {
				p, err = s.auth.VerifyAPIKey(r.Context(), key, r.RemoteAddr)
			} else {
				err = fmt.Errorf("an API key works only on %s: %w", apiKeyPattern, auth.ErrNoToken)
			}
		} else if isUpgrade(r) {
			p, err = s.auth.Authenticate(r)
		} else {
			err = auth.ErrNoToken
		}
		if err == nil {
			err = s.authorize(r, p)
		}
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// authorize applies the role rules: admin-only routes, and viewers never
// write (except about their own login).
func (s *Server) authorize(r *http.Request, p auth.Principal) error {
	_, pattern := s.mux.Handler(r)
	path := r.URL.Path
	if (path == "/api/v1/events" || strings.HasPrefix(path, "/api/v1/events/") || adminPatterns[pattern]) && !p.IsAdmin() {
		return &Error{Code: CodeForbidden, Message: fmt.Sprintf("%s %s needs the admin role", r.Method, path)}
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if !p.CanWrite() && !selfServicePatterns[pattern] {
		return &Error{Code: CodeForbidden, Message: fmt.Sprintf("the %s role can only read", p.Role)}
	}
	return nil
}

// visibleAccounts narrows the accounts a read-model request asked for (nil
// means every account) to those its principal may see: an admin (or a
// server without authentication) gets what it asked for; anyone else gets
// their own accounts when they asked for none, and a 403 naming the
// account when they asked for one they may not see (whether or not it
// exists). The result is never nil for a non-admin.
func (s *Server) visibleAccounts(r *http.Request, requested []string) ([]string, error) {
	if s.auth == nil {
		return requested, nil
	}
	p, ok := auth.PrincipalFrom(r.Context())
	if !ok {
		return nil, auth.ErrNoToken
	}
	if p.AllAccounts {
		return requested, nil
	}
	if requested == nil {
		return append([]string{}, p.Accounts...), nil
	}
	for _, a := range requested {
		if !p.CanSee(a) {
			return nil, &Error{Code: CodeForbidden, Message: fmt.Sprintf("no access to account %q", a)}
		}
	}
	return requested, nil
}

// principal returns the request's principal (the middleware put it there).
func principal(r *http.Request) (auth.Principal, error) {
	p, ok := auth.PrincipalFrom(r.Context())
	if !ok {
		return p, auth.ErrNoToken
	}
	return p, nil
}

// decodeBody reads a JSON object of at most 64 KiB into v, refusing
// unknown fields (no mass assignment) and trailing data. optional allows
// an empty body.
func decodeBody(r *http.Request, v any, optional bool) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil {
		return invalid("body", "cannot read: %v", err)
	}
	if len(b) > 64<<10 {
		return invalid("body", "larger than 64 KiB")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if optional {
			return nil
		}
		return invalid("body", "a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("body", "%v", err)
	}
	if dec.More() {
		return invalid("body", "trailing data after the JSON object")
	}
	return nil
}

// handleLogin serves POST /auth/login {"username","password"}.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	tok, err := s.auth.Login(r.Context(), req.Username, req.Password, r.RemoteAddr)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, tok)
}

// handleRefresh serves POST /auth/refresh {"refresh_token"}.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	tok, err := s.auth.Refresh(r.Context(), req.RefreshToken)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, tok)
}

// handleLogout serves POST /auth/logout: it revokes the session of the
// access token and, given {"refresh_token"}, that token's session.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	p, err := principal(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := decodeBody(r, &req, true); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if err := s.auth.Logout(r.Context(), p, req.RefreshToken); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"logged_out": true, "session": p.SessionFamily})
}

// handleVerify serves GET /auth/verify: the principal of the token.
func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) {
	p, err := principal(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// handleUsers serves GET /api/v1/users/: every user, sorted by username.
func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"users": s.auth.Users()})
}

// handleAddUser serves POST /api/v1/users/ {"username","password","role"}
// (role defaults to viewer).
func (s *Server) handleAddUser(w http.ResponseWriter, r *http.Request) {
	p, err := principal(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Role     string `json:"role"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	role := domain.RoleViewer
	if req.Role != "" {
		if role, err = domain.ParseRole(req.Role); err != nil {
			writeError(w, r, s.log, invalid("role", "%v", err))
			return
		}
	}
	u, err := s.auth.AddUser(r.Context(), req.Username, req.Password, role, p.UserID)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

// currentUser returns the principal and its user.
func (s *Server) currentUser(r *http.Request) (auth.Principal, auth.User, error) {
	p, err := principal(r)
	if err != nil {
		return p, auth.User{}, err
	}
	u, ok := s.auth.User(p.UserID)
	if !ok {
		return p, u, fmt.Errorf("%q: %w", p.UserID, auth.ErrUserNotFound)
	}
	return p, u, nil
}

// handleCurrentUser serves GET /api/v1/users/current: the user, the
// accounts it may see and its session.
func (s *Server) handleCurrentUser(w http.ResponseWriter, r *http.Request) {
	p, u, err := s.currentUser(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": u, "accounts": p.Accounts, "all_accounts": p.AllAccounts, "session": p.SessionFamily})
}

func (s *Server) handleProfile(w http.ResponseWriter, r *http.Request) {
	_, u, err := s.currentUser(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// handleChangePassword serves PUT /api/v1/users/profile
// {"old_password","new_password"}. Every session of the user is revoked:
// it logs in again with the new password.
func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request) {
	p, err := principal(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	var req struct {
		OldPassword string `json:"old_password"`
		NewPassword string `json:"new_password"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if err := s.auth.ChangePassword(r.Context(), p.UserID, req.OldPassword, req.NewPassword); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"password_changed": true, "sessions_revoked": true})
}

func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request) {
	_, u, err := s.currentUser(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"settings": u.Settings})
}

// handleUpdateSettings serves PUT /api/v1/users/settings {"settings":{...}}:
// the new settings replace the old ones.
func (s *Server) handleUpdateSettings(w http.ResponseWriter, r *http.Request) {
	p, err := principal(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	var req struct {
		Settings map[string]string `json:"settings"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	set, err := s.auth.UpdateSettings(r.Context(), p.UserID, req.Settings)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"settings": set})
}

// handleSetRole serves PUT /api/v1/users/{id}/role {"role"}.
func (s *Server) handleSetRole(w http.ResponseWriter, r *http.Request) {
	p, err := principal(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	var req struct {
		Role string `json:"role"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	role, err := domain.ParseRole(req.Role)
	if err != nil {
		writeError(w, r, s.log, invalid("role", "%v", err))
		return
	}
	u, err := s.auth.SetRole(r.Context(), r.PathValue("id"), role, p.UserID)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// handleGrant serves POST /api/v1/users/{id}/accounts {"account"}.
func (s *Server) handleGrant(w http.ResponseWriter, r *http.Request) {
	p, err := principal(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	var req struct {
		Account string `json:"account"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	u, err := s.auth.GrantAccount(r.Context(), r.PathValue("id"), req.Account, p.UserID)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// handleRevokeAccount serves DELETE /api/v1/users/{id}/accounts/{account}.
func (s *Server) handleRevokeAccount(w http.ResponseWriter, r *http.Request) {
	p, err := principal(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	u, err := s.auth.RevokeAccount(r.Context(), r.PathValue("id"), r.PathValue("account"), p.UserID)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// authError maps the errors of package auth to the API's error shape; ok
// is false for other errors.
func authError(w http.ResponseWriter, err error) (*Error, bool) {
	var rl *auth.RateLimitError
	var fe *domain.FieldError
	switch {
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.Itoa(max(int(math.Ceil(rl.RetryAfter.Seconds())), 1)))
		return &Error{Code: CodeRateLimited, Message: err.Error()}, true
	case errors.Is(err, auth.ErrNoToken), errors.Is(err, auth.ErrInvalidToken), errors.Is(err, auth.ErrInvalidCredentials):
		return &Error{Code: CodeUnauthorized, Message: err.Error()}, true
	case errors.Is(err, auth.ErrForbidden):
		return &Error{Code: CodeForbidden, Message: err.Error()}, true
	case errors.Is(err, auth.ErrUserExists), errors.Is(err, auth.ErrLastAdmin):
		return &Error{Code: CodeConflict, Message: err.Error()}, true
	case errors.Is(err, auth.ErrUserNotFound), errors.Is(err, auth.ErrAPIKeyNotFound):
		return &Error{Code: CodeNotFound, Message: err.Error()}, true
	case errors.Is(err, auth.ErrInvalid), errors.As(err, &fe):
		return &Error{Code: CodeInvalid, Message: err.Error()}, true
	}
	return nil, false
}
