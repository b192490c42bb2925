package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
)

// API keys let a webhook (an n8n flow, a TradingView-style alert) submit
// signals without a login: each key speaks for one signal source and may
// trade one account, as a trader. Keys live in "apikey-<id>" streams
// (APIKeyCreated, APIKeyRevoked), folded and followed like users. The
// secret ("aak_" and 32 random bytes in base64url) is answered once, on
// creation; only its SHA-256 is stored, and a presented secret is found by
// its hash, so no comparison runs over the secret itself.

// APIKeyHeader is the request header carrying an API key's secret.
const APIKeyHeader = "X-API-Key"

// apiKeyPrefix starts every secret, so that a leaked one is recognisable.
const apiKeyPrefix = "aak_"

// ErrAPIKeyNotFound: no API key with that id.
var ErrAPIKeyNotFound = errors.New("api key not found")

// APIKey is an API key as the service shows it: never its secret or hash.
type APIKey struct {
	ID        string     `json:"id"`
	Source    string     `json:"source"`
	Account   string     `json:"account"`
	Name      string     `json:"name,omitempty"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	Revoked   bool       `json:"revoked"`
	RevokedBy string     `json:"revoked_by,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

type apiKey struct {
	view    APIKey
	hash    string
	version uint64 // of the last event applied
}

// applyKey folds an API key event (mu held for writing), idempotently by
// stream version like apply.
func (s *Service) applyKey(version uint64, e domain.Event) {
	switch e := e.(type) {
	case domain.APIKeyCreated:
		if s.keys[e.KeyID] != nil {
			return
		}
		s.keys[e.KeyID] = &apiKey{view: APIKey{ID: e.KeyID, Source: e.Source, Account: e.Account, Name: e.Name,
			CreatedBy: e.By, CreatedAt: e.At}, hash: e.Hash, version: version}
		s.keyByHash[e.Hash] = e.KeyID
	case domain.APIKeyRevoked:
		if k := s.keys[e.KeyID]; k != nil && version > k.version && !k.view.Revoked {
			at := e.At
			k.view.Revoked, k.view.RevokedBy, k.view.RevokedAt, k.version = true, e.By, &at, version
		} else if k != nil && version > k.version {
			k.version = version
		}
	}
}

func (k *apiKey) copyView() APIKey {
	v := k.view
	if v.RevokedAt != nil {
		at := *v.RevokedAt
		v.RevokedAt = &at
	}
	return v
}

// newAPIKeySecret returns a fresh secret and its stored hash.
func newAPIKeySecret() (secret, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("auth: api key: %w", err)
	}
	secret = apiKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, tokenHash(secret), nil
}

// CreateAPIKey creates a key for source (see domain.ValidSource) that may
// trade account, with an optional label. It returns the key and its
// secret, which is never shown again. by names who did it.
func (s *Service) CreateAPIKey(ctx context.Context, source, account, name, by string) (APIKey, string, error) {
	source, account, name = strings.TrimSpace(source), strings.TrimSpace(account), strings.TrimSpace(name)
	if why := domain.ValidSource(source); why != "" {
		return APIKey{}, "", &InputError{Field: "source", Reason: why}
	}
	if account == "" || len(account) > 128 || strings.ContainsAny(account, ",\x00\r\n") {
		return APIKey{}, "", &InputError{Field: "account", Reason: "must be 1 to 128 bytes without commas or control characters"}
	}
	if why := domain.ValidAPIKeyName(name); why != "" {
		return APIKey{}, "", &InputError{Field: "name", Reason: why}
	}
	secret, h, err := newAPIKeySecret()
	if err != nil {
		return APIKey{}, "", err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return APIKey{}, "", fmt.Errorf("auth: api key id: %w", err)
	}
	ev := domain.APIKeyCreated{KeyID: id.String(), Source: source, Account: account, Name: name, Hash: h, By: by, At: s.now()}
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	if _, err := s.append(ctx, domain.APIKeyStream(ev.KeyID), eventstore.NoStream(), by, ev); err != nil {
		return APIKey{}, "", err
	}
	k, _ := s.APIKey(ev.KeyID)
	s.log.Info("api key created", "key", ev.KeyID, "source", source, "account", account, "by", by)
	return k, secret, nil
}

// APIKey returns the key with id.
func (s *Service) APIKey(id string) (APIKey, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k := s.keys[id]
	if k == nil {
		return APIKey{}, false
	}
	return k.copyView(), true
}

// APIKeys returns every key, revoked ones included, oldest first.
func (s *Service) APIKeys() []APIKey {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]APIKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, k.copyView())
	}
	slices.SortFunc(out, func(a, b APIKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// RevokeAPIKey revokes a key: its secret is refused from now on, on every
// node once the event reaches it. Revoking a revoked key is a no-op.
func (s *Service) RevokeAPIKey(ctx context.Context, id, by string) (APIKey, error) {
	var out APIKey
	err := s.command(ctx, nil, func(*[]revocation) error {
		s.mu.RLock()
		var k apiKey
		p := s.keys[id]
		if p != nil {
			k = *p
		}
		s.mu.RUnlock()
		if p == nil {
			return fmt.Errorf("%q: %w", id, ErrAPIKeyNotFound)
		}
		if !k.view.Revoked {
			ev := domain.APIKeyRevoked{KeyID: id, By: by, At: s.now()}
			if _, err := s.append(ctx, domain.APIKeyStream(id), eventstore.Exact(k.version), by, ev); err != nil {
				return err
			}
			s.log.Info("api key revoked", "key", id, "source", k.view.Source, "by", by)
		}
		out, _ = s.APIKey(id)
		return nil
	})
	if err != nil {
		return APIKey{}, err
	}
	return out, nil
}

// VerifyAPIKey checks an API key's secret, presented from remoteAddr. Too
// many failures from the address (the login limit) answer a
// *RateLimitError before the secret is looked at; an unknown or revoked
// secret matches ErrInvalidToken and counts as a failure. The principal is
// a trader on the key's account only, with Source and APIKeyID set.
func (s *Service) VerifyAPIKey(ctx context.Context, secret, remoteAddr string) (Principal, error) {
	addr, now := addrKey(remoteAddr), s.now()
	if d := s.addrLim.blocked(addr, now); d > 0 {
		s.log.Warn("api key rate limited", "remote", addr, "retry_after", d.Round(time.Second))
		return Principal{}, &RateLimitError{RetryAfter: d}
	}
	secret = strings.TrimSpace(secret)
	fail := func(why string) (Principal, error) {
		s.addrLim.fail(addr, now)
		s.log.Warn("api key refused", "remote", addr, "why", why)
		return Principal{}, fmt.Errorf("api key: %w", ErrInvalidToken)
	}
	if !strings.HasPrefix(secret, apiKeyPrefix) || len(secret) > 256 {
		return fail("malformed")
	}
	h := tokenHash(secret)
	if !s.knownKey(h) { // perhaps created on another node a moment ago
		revs, err := s.catchUp(ctx)
		s.notify(revs)
		if err != nil {
			return Principal{}, err
		}
	}
	s.mu.RLock()
	var k apiKey
	p := s.keys[s.keyByHash[h]]
	if p != nil {
		k = *p
	}
	s.mu.RUnlock()
	if p == nil || subtle.ConstantTimeCompare([]byte(k.hash), []byte(h)) != 1 {
		return fail("unknown")
	}
	if k.view.Revoked {
		return fail("revoked")
	}
	return Principal{UserID: "apikey:" + k.view.ID, Username: "apikey:" + k.view.ID, Role: domain.RoleTrader,
		Accounts: []string{k.view.Account}, APIKeyID: k.view.ID, Source: k.view.Source}, nil
}

// knownKey reports whether h is the hash of an API key this service has
// seen.
func (s *Service) knownKey(h string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.keyByHash[h]
	return ok
}

// APIKeyFrom returns the API key secret of r's X-API-Key header.
func APIKeyFrom(r *http.Request) (string, bool) {
	k := strings.TrimSpace(r.Header.Get(APIKeyHeader))
	return k, k != ""
}
