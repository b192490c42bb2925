package api

import (
	"net/http"
)

// API keys for webhook signals (admins only, see adminPatterns): an API
// key submits signals on POST /api/v1/signals for its source and account,
// with X-API-Key instead of a bearer token.

func (s *Server) apiKeyRoutes() {
	s.mux.HandleFunc("GET /api/v1/api-keys", s.handleAPIKeys)
	s.mux.HandleFunc("POST /api/v1/api-keys", s.handleCreateAPIKey)
	s.mux.HandleFunc("DELETE /api/v1/api-keys/{id}", s.handleRevokeAPIKey)
}

// handleAPIKeys serves GET /api/v1/api-keys: every key, revoked ones
// included, oldest first, without secrets.
func (s *Server) handleAPIKeys(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"api_keys": s.auth.APIKeys()})
}

// handleCreateAPIKey serves POST /api/v1/api-keys {"source","account",
// "name"?}: 201 with the key and its secret, shown this once.
func (s *Server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) {
	p, err := principal(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	var req struct {
		Source  string `json:"source"`
		Account string `json:"account"`
		Name    string `json:"name"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	k, secret, err := s.auth.CreateAPIKey(r.Context(), req.Source, req.Account, req.Name, p.UserID)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"api_key": k, "secret": secret})
}

// handleRevokeAPIKey serves DELETE /api/v1/api-keys/{id}: the key is
// refused from now on (revoking it again is not an error).
func (s *Server) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request) {
	p, err := principal(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	k, err := s.auth.RevokeAPIKey(r.Context(), r.PathValue("id"), p.UserID)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"api_key": k})
}
