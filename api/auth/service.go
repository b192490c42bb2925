// Package auth is AlgoAuto's users and sessions: Argon2id passwords, HS256
// access tokens and rotated refresh tokens, all recorded as events.
//
// Contract:
//
//   - The event log is the truth. Users live in "user-<id>" streams
//     (UserRegistered, UserPasswordChanged, UserRoleChanged,
//     UserSettingsUpdated, AccountAccessGranted/Revoked), login sessions in
//     "session-<family>" streams (SessionStarted, SessionRefreshed,
//     SessionRevoked), API keys for webhook signals in "apikey-<id>"
//     streams (APIKeyCreated, APIKeyRevoked; see apikey.go). Load folds
//     them into memory; every command appends with the stream's expected
//     version and then applies the events, so a read after a write in this
//     process sees it.
//   - Several processes may share one store (API nodes over PostgreSQL or
//     EventStoreDB). Follow, run after Load, folds what the others append
//     (users added, passwords and roles changed, sessions refreshed and
//     revoked) and calls the OnRevoke hooks for sessions revoked
//     elsewhere. Applying is idempotent by stream version, so this
//     process's own events, seen again in the log, change nothing. A
//     command whose append meets a concurrency conflict (another process
//     wrote the stream first) folds that stream from the log and decides
//     again on the fresh state.
//   - Passwords are stored only as Argon2id PHC strings; refresh tokens
//     only as SHA-256 hex digests. Access tokens are never stored.
//   - Access tokens are JWTs signed with HS256 (the only algorithm
//     accepted), with iss, aud, exp, iat, sub, sid (the session family),
//     role and jti, valid AccessTTL (15 minutes by default). Verify also
//     refuses tokens of a revoked or expired session, and reads the role and
//     accounts from the current user state, not from the token.
//   - Refresh tokens rotate on every use. Presenting a rotated one again
//     revokes its whole family (SessionRevoked, reason reuse). There is no
//     grace window: two concurrent refreshes with the same token, on one
//     node or on two, revoke the family (the loser's rotation conflicts on
//     the session stream's version, it sees the winner's rotation and
//     answers as a reuse), so a client must serialize its refreshes.
//   - Failed logins are limited per username and per remote address; an
//     unknown username and a wrong password fail the same way and take the
//     same time (a dummy hash is verified).
//   - All methods are safe for concurrent use. Methods taking a ctx do I/O
//     (appends) or expensive hashing; Verify, Users and User are in memory.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// Store is what the service needs from the event store: appends, the log
// to Load and to catch up from, one stream to catch up after a conflict,
// and a subscription to Follow.
type Store interface {
	Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error)
	ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) ([]eventstore.RecordedEvent, error)
	ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error)
	Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error)
}

// Config configures a Service. Zero values take the defaults named.
type Config struct {
	// Key signs access tokens (HS256), at least MinKeyLen random bytes.
	// Without it the service manages users but issues and accepts no
	// tokens (ErrNoKey).
	Key []byte
	// Issuer and Audience of access tokens; default "algoauto" and
	// "algoauto-api".
	Issuer, Audience string
	// AccessTTL is the access-token lifetime; default 15 minutes.
	AccessTTL time.Duration
	// RefreshTTL is how long a refresh token stays usable; default 7 days.
	RefreshTTL time.Duration
	// MaxSessionAge caps a session however often it is refreshed; default
	// 30 days.
	MaxSessionAge time.Duration
	// Leeway is the clock skew allowed on exp and iat; default 30 s, at
	// most 60 s.
	Leeway time.Duration
	// Params are the Argon2id parameters of new hashes; default
	// DefaultParams.
	Params Params
	// MaxUserFailures and MaxAddrFailures are the failed logins allowed per
	// username and per remote address in FailureWindow; defaults 5, 20 and
	// 1 minute. MaxTrackedKeys bounds each limiter's memory; default 10000.
	MaxUserFailures, MaxAddrFailures int
	FailureWindow                    time.Duration
	MaxTrackedKeys                   int
	// MaxConcurrentHashes bounds the Argon2id computations running at once
	// (each takes Params.Memory); default 4.
	MaxConcurrentHashes int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default discards.
	Logger *slog.Logger
	// Registry encodes and decodes the events; default codec.NewRegistry().
	Registry *codec.Registry
}

// Tokens are what a login or a refresh returns. The JSON form is the HTTP
// answer of /auth/login and /auth/refresh.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int64 `json:"expires_in"`
	// AccessExpiresAt and RefreshExpiresAt are when each stops working.
	AccessExpiresAt  time.Time `json:"-"`
	RefreshExpiresAt time.Time `json:"-"`
	// Family is the session (refresh-token family) the tokens belong to.
	Family string `json:"-"`
}

// User is a user as the service shows it (never with its password hash).
type User struct {
	ID           string            `json:"id"`
	Username     string            `json:"username"`
	Role         domain.Role       `json:"role"`
	PaperAccount string            `json:"paper_account"`
	Granted      []string          `json:"granted_accounts"`
	Settings     map[string]string `json:"settings"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
}

type user struct {
	id, username, paper string
	role                domain.Role
	hash                string
	granted             []string // sorted
	settings            map[string]string
	created, updated    time.Time
	version             uint64              // of the last event applied
	pos                 eventstore.Position // of UserRegistered
}

func (u *user) view() User {
	s := make(map[string]string, len(u.settings))
	for k, v := range u.settings {
		s[k] = v
	}
	return User{ID: u.id, Username: u.username, Role: u.role, PaperAccount: u.paper, Granted: append([]string{}, u.granted...),
		Settings: s, CreatedAt: u.created, UpdatedAt: u.updated}
}

type session struct {
	family, userID   string
	hash             string   // the current refresh token's
	hashes           []string // every hash the family has had
	started, expires time.Time
	revoked          bool
	version          uint64 // of the last event applied
}

// revocation is a session ended (here or, seen through the log, elsewhere),
// for the OnRevoke hooks; with no family, a change of the user's role or
// accounts, for the OnAccessChange hooks.
type revocation struct{ userID, family string }

// Service manages users and sessions. Build it with NewService, then Load.
type Service struct {
	st     Store
	reg    *codec.Registry
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	key    []byte
	parser *jwt.Parser

	cmdMu sync.Mutex // serializes commands: append, then apply
	mu    sync.RWMutex
	// The folded state, guarded by mu (written only with cmdMu held too).
	users     map[string]*user // by id
	byName    map[string]*user
	sessions  map[string]*session // by family
	byHash    map[string]string   // refresh token hash -> family
	keys      map[string]*apiKey  // by id
	keyByHash map[string]string   // API key secret hash -> key id
	lastPrune time.Time
	// pos is the log position up to which every user and session event
	// has been folded (by Load, Follow or catchUp); loads counts Loads, so
	// that a subscription older than the state restarts.
	pos       eventstore.Position
	loads     uint64
	following atomic.Bool

	hooksMu     sync.Mutex
	hooks       []func(userID, family string)
	accessHooks []func(userID string)

	userLim, addrLim *failureLimiter
	hashSem          chan struct{}
	dummyOnce        sync.Once
	dummyHash        string
	dummyErr         error
}

// NewService returns a service over st. It holds no users until Load.
func NewService(st Store, cfg Config) (*Service, error) {
	if st == nil {
		panic("auth: nil store")
	}
	if len(cfg.Key) > 0 {
		if err := CheckKey(cfg.Key); err != nil {
			return nil, err
		}
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "algoauto"
	}
	if cfg.Audience == "" {
		cfg.Audience = "algoauto-api"
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = 7 * 24 * time.Hour
	}
	if cfg.MaxSessionAge <= 0 {
		cfg.MaxSessionAge = 30 * 24 * time.Hour
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Leeway > time.Minute {
		return nil, fmt.Errorf("auth: leeway %s is above the 60 s maximum", cfg.Leeway)
	}
	if cfg.Params == (Params{}) {
		cfg.Params = DefaultParams
	}
	if cfg.MaxUserFailures <= 0 {
		cfg.MaxUserFailures = 5
	}
	if cfg.MaxAddrFailures <= 0 {
		cfg.MaxAddrFailures = 20
	}
	if cfg.FailureWindow <= 0 {
		cfg.FailureWindow = time.Minute
	}
	if cfg.MaxTrackedKeys <= 0 {
		cfg.MaxTrackedKeys = 10000
	}
	if cfg.MaxConcurrentHashes <= 0 {
		cfg.MaxConcurrentHashes = 4
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = codec.NewRegistry()
	}
	s := &Service{st: st, reg: cfg.Registry, cfg: cfg, log: cfg.Logger, now: cfg.Now, key: cfg.Key,
		userLim: newFailureLimiter(cfg.MaxUserFailures, cfg.FailureWindow, cfg.MaxTrackedKeys),
		addrLim: newFailureLimiter(cfg.MaxAddrFailures, cfg.FailureWindow, cfg.MaxTrackedKeys),
		hashSem: make(chan struct{}, cfg.MaxConcurrentHashes)}
	s.parser = jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now))
	s.reset()
	return s, nil
}

func (s *Service) reset() {
	s.users, s.byName = map[string]*user{}, map[string]*user{}
	s.sessions, s.byHash = map[string]*session{}, map[string]string{}
	s.keys, s.keyByHash = map[string]*apiKey{}, map[string]string{}
	s.pos = eventstore.Start
}

// eventTypes are the types Load and Follow read.
var eventTypes = []string{
	domain.TypeUserRegistered, domain.TypeUserPasswordChanged, domain.TypeUserRoleChanged, domain.TypeUserSettingsUpdated,
	domain.TypeAccountAccessGranted, domain.TypeAccountAccessRevoked,
	domain.TypeSessionStarted, domain.TypeSessionRefreshed, domain.TypeSessionRevoked,
	domain.TypeAPIKeyCreated, domain.TypeAPIKeyRevoked,
}

// Load reads every user and session event from the log into memory,
// replacing what the service held. Call it once before serving, then run
// Follow to stay up to date.
func (s *Service) Load(ctx context.Context) error {
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset()
	s.loads++
	const page = 1000
	after, n := eventstore.Start, 0
	for {
		evs, err := s.st.ReadAll(ctx, eventstore.ReadAllOptions{After: after, Count: page, Filter: authFilter()})
		if err != nil {
			return fmt.Errorf("auth: load: %w", err)
		}
		if _, err := s.fold(evs, true); err != nil {
			return fmt.Errorf("auth: load: %w", err)
		}
		n += len(evs)
		if len(evs) > 0 {
			after = evs[len(evs)-1].Position
		}
		if len(evs) < page {
			break
		}
	}
	s.pos = after
	s.prune(s.now())
	s.log.Info("users loaded", "users", len(s.users), "sessions", len(s.sessions), "events", n)
	return nil
}

// apply folds one event of version (in its stream) at log position pos
// (mu held for writing). It is idempotent: an event whose stream this
// service has seen at that version already (its own append, seen again
// in the log) changes nothing. It returns the session revoked, if e
// revoked one that was live here.
func (s *Service) apply(version uint64, pos eventstore.Position, e domain.Event) *revocation {
	touch := func(id string, at time.Time) *user {
		u := s.users[id]
		if u == nil || version <= u.version {
			return nil
		}
		u.version, u.updated = version, at
		return u
	}
	switch e := e.(type) {
	case domain.UserRegistered:
		if s.users[e.UserID] != nil {
			return nil
		}
		// Two nodes can register one username at once (different
		// streams): the registration first in the log keeps it, on every
		// node, and the other user is ignored.
		if o := s.byName[e.Username]; o != nil {
			if o.pos <= pos {
				s.log.Warn("user registration ignored: the username was registered first by another user",
					"user", e.UserID, "username", e.Username, "first", o.id)
				return nil
			}
			s.log.Warn("user registration ignored: the username was registered first by another user",
				"user", o.id, "username", o.username, "first", e.UserID)
			delete(s.users, o.id)
		}
		u := &user{id: e.UserID, username: e.Username, paper: e.PaperAccount, role: e.Role, hash: e.PasswordHash,
			settings: map[string]string{}, created: e.At, updated: e.At, version: version, pos: pos}
		s.users[u.id], s.byName[u.username] = u, u
	case domain.UserPasswordChanged:
		if u := touch(e.UserID, e.At); u != nil {
			u.hash = e.PasswordHash
		}
	case domain.UserRoleChanged:
		if u := touch(e.UserID, e.At); u != nil && u.role != e.Role {
			u.role = e.Role
			return &revocation{userID: e.UserID}
		}
	case domain.UserSettingsUpdated:
		if u := touch(e.UserID, e.At); u != nil {
			u.settings = map[string]string{}
			for k, v := range e.Settings {
				u.settings[k] = v
			}
		}
	case domain.AccountAccessGranted:
		if u := touch(e.UserID, e.At); u != nil && !slices.Contains(u.granted, e.Account) {
			u.granted = append(u.granted, e.Account)
			slices.Sort(u.granted)
		}
	case domain.AccountAccessRevoked:
		if u := touch(e.UserID, e.At); u != nil && slices.Contains(u.granted, e.Account) {
			u.granted = slices.DeleteFunc(u.granted, func(a string) bool { return a == e.Account })
			return &revocation{userID: e.UserID}
		}
	case domain.SessionStarted:
		if s.sessions[e.Family] != nil {
			return nil
		}
		s.sessions[e.Family] = &session{family: e.Family, userID: e.UserID, hash: e.TokenHash, hashes: []string{e.TokenHash},
			started: e.At, expires: e.ExpiresAt, version: version}
		s.byHash[e.TokenHash] = e.Family
	case domain.SessionRefreshed:
		if ss := s.sessions[e.Family]; ss != nil && version > ss.version {
			ss.hash, ss.expires, ss.version = e.TokenHash, e.ExpiresAt, version
			ss.hashes = append(ss.hashes, e.TokenHash)
			s.byHash[e.TokenHash] = e.Family
		}
	case domain.SessionRevoked:
		if ss := s.sessions[e.Family]; ss != nil && version > ss.version {
			was := ss.revoked
			ss.revoked, ss.version = true, version
			if !was {
				return &revocation{ss.userID, ss.family}
			}
		}
	case domain.APIKeyCreated, domain.APIKeyRevoked:
		s.applyKey(version, e)
	}
	return nil
}

// pruneGrace is how long past its expiry a session is kept in memory: a
// refresh another node made just before the expiry may still be on its
// way here, and a pruned session cannot take it.
const pruneGrace = time.Hour

// prune forgets sessions past their expiry by pruneGrace (mu held for
// writing): their tokens are refused either way, as expired or unknown.
func (s *Service) prune(now time.Time) {
	for f, ss := range s.sessions {
		if !now.Before(ss.expires.Add(pruneGrace)) {
			for _, h := range ss.hashes {
				delete(s.byHash, h)
			}
			delete(s.sessions, f)
		}
	}
	s.lastPrune = now
}

// append encodes evs, appends them to stream if it is at expected, and
// applies them (cmdMu held). It returns the sessions they revoked, unless
// Follow applied them first (then Follow reports them): either way the
// OnRevoke hooks run once per revocation.
func (s *Service) append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, by string, evs ...domain.Event) ([]revocation, error) {
	data := make([]eventstore.EventData, len(evs))
	for i, e := range evs {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("auth: event id: %w", err)
		}
		if data[i], err = s.reg.Encode(id, e, eventstore.Metadata{User: by, Source: "auth"}); err != nil {
			return nil, err
		}
	}
	res, err := s.st.Append(ctx, stream, expected, data...)
	if err != nil {
		return nil, fmt.Errorf("auth: append to %s: %w", stream, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var revs []revocation
	for i, e := range evs {
		// Versions of one append are consecutive. Only UserRegistered,
		// always appended alone, uses the position.
		back := uint64(len(evs) - 1 - i)
		if r := s.apply(res.Version-back, res.Position-eventstore.Position(back), e); r != nil {
			revs = append(revs, *r)
		}
	}
	return revs, nil
}

// OnRevoke registers fn to be called after a session is revoked (logout,
// refresh-token reuse, password change), with the user and the session
// family, so that live connections of that session can be closed: once
// by every process, on the revoking goroutine in the process that revoked
// it (or on its Follow goroutine, a moment later, when its own Follow
// applied the event first) and on Follow's goroutine elsewhere, when the
// revocation reaches it. fn runs after the revocation is durable and must
// not block.
func (s *Service) OnRevoke(fn func(userID, family string)) {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	s.hooks = append(s.hooks, fn)
}

// OnAccessChange registers fn to be called after a user's role changes or
// an account is taken from them, here or (through Follow) on another
// node, so that connections authorised under the old access can be
// closed: REST checks every request against the current role and
// accounts, but a WebSocket keeps the identity it connected with. The same
// once-per-process rule as OnRevoke applies; fn must not block.
func (s *Service) OnAccessChange(fn func(userID string)) {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	s.accessHooks = append(s.accessHooks, fn)
}

func (s *Service) notify(revs []revocation) {
	if len(revs) == 0 {
		return
	}
	s.hooksMu.Lock()
	hooks, access := slices.Clone(s.hooks), slices.Clone(s.accessHooks)
	s.hooksMu.Unlock()
	for _, r := range revs {
		if r.family == "" {
			for _, h := range access {
				h(r.userID)
			}
			continue
		}
		for _, h := range hooks {
			h(r.userID, r.family)
		}
	}
}

// hash runs f holding a hashing slot, bounding concurrent Argon2id work.
func (s *Service) hash(ctx context.Context, f func() error) error {
	select {
	case s.hashSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.hashSem }()
	return f()
}

func (s *Service) hashPassword(ctx context.Context, pw string) (string, error) {
	var h string
	err := s.hash(ctx, func() (err error) {
		h, err = HashPassword(pw, s.cfg.Params)
		return err
	})
	return h, err
}

func (s *Service) verifyPassword(ctx context.Context, pw, phc string) (bool, error) {
	var ok bool
	err := s.hash(ctx, func() (err error) {
		ok, err = VerifyPassword(pw, phc)
		return err
	})
	return ok, err
}

// dummy returns a hash of a random password with the current parameters,
// verified in place of a missing user's so that both fail alike.
func (s *Service) dummy() (string, error) {
	s.dummyOnce.Do(func() {
		pw, err := randomPassword()
		if err == nil {
			s.dummyHash, err = HashPassword(pw, s.cfg.Params)
		}
		s.dummyErr = err
	})
	return s.dummyHash, s.dummyErr
}

// randomPassword returns 24 characters of base64url from 18 random bytes.
func randomPassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: random password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func normalizeName(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// Users returns every user, sorted by username.
func (s *Service) Users() []User {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u.view())
	}
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.Username, b.Username) })
	return out
}

// User returns the user with id.
func (s *Service) User(id string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u := s.users[id]
	if u == nil {
		return User{}, false
	}
	return u.view(), true
}

// Bootstrap creates the user "admin" with the admin role when there is no
// user at all. With an empty adminPassword it generates one (24 random
// characters) and returns it; the caller must show it once. created is
// false (and nothing happens) when users exist.
func (s *Service) Bootstrap(ctx context.Context, adminPassword string) (created bool, password string, err error) {
	s.mu.RLock()
	n := len(s.users)
	s.mu.RUnlock()
	if n > 0 {
		return false, "", nil
	}
	pw := adminPassword
	if pw == "" {
		if pw, err = randomPassword(); err != nil {
			return false, "", err
		}
		password = pw
	}
	if _, err := s.AddUser(ctx, "admin", pw, domain.RoleAdmin, "bootstrap"); err != nil {
		return false, "", fmt.Errorf("auth: bootstrap admin: %w", err)
	}
	return true, password, nil
}

// AddUser registers a user with its paper account "paper-<username>". by
// names who did it (a user id, "cli", "bootstrap"). Usernames are
// case-insensitive (stored lower-case).
func (s *Service) AddUser(ctx context.Context, username, password string, role domain.Role, by string) (User, error) {
	name := normalizeName(username)
	if why := domain.ValidUsername(name); why != "" {
		return User{}, &InputError{Field: "username", Reason: why}
	}
	if !role.Valid() {
		return User{}, &InputError{Field: "role", Reason: fmt.Sprintf("must be admin, trader or viewer, got %q", role)}
	}
	if err := CheckPassword("password", password); err != nil {
		return User{}, err
	}
	s.mu.RLock()
	_, taken := s.byName[name]
	s.mu.RUnlock()
	if taken { // checked again below; this spares the hash
		return User{}, fmt.Errorf("%q: %w", name, ErrUserExists)
	}
	phc, err := s.hashPassword(ctx, password)
	if err != nil {
		return User{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return User{}, fmt.Errorf("auth: user id: %w", err)
	}
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	s.mu.RLock()
	_, taken = s.byName[name]
	s.mu.RUnlock()
	if taken {
		return User{}, fmt.Errorf("%q: %w", name, ErrUserExists)
	}
	ev := domain.UserRegistered{UserID: id.String(), Username: name, Role: role, PasswordHash: phc,
		PaperAccount: domain.PaperAccount(name), By: by, At: s.now()}
	if _, err := s.append(ctx, domain.UserStream(ev.UserID), eventstore.NoStream(), by, ev); err != nil {
		return User{}, err
	}
	u, ok := s.User(ev.UserID)
	if !ok { // another node registered the name first, a moment ago
		return User{}, fmt.Errorf("%q: %w", name, ErrUserExists)
	}
	s.log.Info("user registered", "user", ev.UserID, "username", name, "role", role, "by", by)
	return u, nil
}

// lockedUser returns a copy of user id's state (cmdMu held).
func (s *Service) lockedUser(id string) (user, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u := s.users[id]
	if u == nil {
		return user{}, fmt.Errorf("%q: %w", id, ErrUserNotFound)
	}
	return *u, nil
}

// ChangePassword sets a user's password after checking the current one,
// and revokes every session of the user (reason password_changed): the
// user logs in again. Wrong current passwords count as failed logins.
func (s *Service) ChangePassword(ctx context.Context, userID, oldPassword, newPassword string) error {
	u, ok := s.User(userID)
	if !ok {
		return fmt.Errorf("%q: %w", userID, ErrUserNotFound)
	}
	now := s.now()
	if d := s.userLim.blocked(u.Username, now); d > 0 {
		return &RateLimitError{RetryAfter: d}
	}
	if err := CheckPassword("new_password", newPassword); err != nil {
		return err
	}
	cur, err := s.lockedUser(userID)
	if err != nil {
		return err
	}
	oldHash := cur.hash
	match, err := s.verifyPassword(ctx, oldPassword, oldHash)
	if err != nil {
		return err
	}
	if !match {
		s.userLim.fail(u.Username, now)
		s.log.Warn("password change refused: wrong current password", "user", userID)
		return &InputError{Field: "old_password", Reason: "is not the current password"}
	}
	phc, err := s.hashPassword(ctx, newPassword)
	if err != nil {
		return err
	}
	changed, revs := false, 0
	err = s.command(ctx, nil, func(revoked *[]revocation) error {
		if !changed {
			cur, err := s.lockedUser(userID)
			if err != nil {
				return err
			}
			if cur.hash != oldHash { // changed elsewhere since it was checked
				return &InputError{Field: "old_password", Reason: "is not the current password"}
			}
			ev := domain.UserPasswordChanged{UserID: userID, PasswordHash: phc, By: userID, At: s.now()}
			if _, err := s.append(ctx, domain.UserStream(userID), eventstore.Exact(cur.version), userID, ev); err != nil {
				return err
			}
			changed = true
			// Sessions another node started a moment ago end too.
			found, err := s.catchUp(ctx)
			*revoked = append(*revoked, found...)
			if err != nil {
				return err
			}
		}
		n, err := s.revokeUser(ctx, userID, domain.RevokePasswordChanged, revoked)
		revs += n
		return err
	})
	if changed {
		s.log.Info("password changed", "user", userID, "sessions_revoked", revs)
	}
	return err
}

// SetRole changes a user's role. The last admin cannot be demoted.
func (s *Service) SetRole(ctx context.Context, userID string, role domain.Role, by string) (User, error) {
	if !role.Valid() {
		return User{}, &InputError{Field: "role", Reason: fmt.Sprintf("must be admin, trader or viewer, got %q", role)}
	}
	var out User
	err := s.command(ctx, nil, func(revs *[]revocation) error {
		u, err := s.lockedUser(userID)
		if err != nil {
			return err
		}
		if u.role == role {
			out = u.view()
			return nil
		}
		if u.role == domain.RoleAdmin {
			s.mu.RLock()
			admins := 0
			for _, o := range s.users {
				if o.role == domain.RoleAdmin {
					admins++
				}
			}
			s.mu.RUnlock()
			if admins <= 1 {
				return ErrLastAdmin
			}
		}
		ev := domain.UserRoleChanged{UserID: userID, Role: role, By: by, At: s.now()}
		r, err := s.append(ctx, domain.UserStream(userID), eventstore.Exact(u.version), by, ev)
		if err != nil {
			return err
		}
		*revs = append(*revs, r...) // the user's sockets reconnect under the new role
		s.log.Info("role changed", "user", userID, "from", u.role, "to", role, "by", by)
		out = s.mustUser(userID)
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return out, nil
}

func (s *Service) mustUser(id string) User {
	u, _ := s.User(id)
	return u
}

// UpdateSettings replaces a user's settings (see domain.ValidSettings for
// the limits) and returns them.
func (s *Service) UpdateSettings(ctx context.Context, userID string, settings map[string]string) (map[string]string, error) {
	if why := domain.ValidSettings(settings); why != "" {
		return nil, &InputError{Field: "settings", Reason: why}
	}
	var out map[string]string
	err := s.command(ctx, nil, func(*[]revocation) error {
		u, err := s.lockedUser(userID)
		if err != nil {
			return err
		}
		ev := domain.UserSettingsUpdated{UserID: userID, Settings: settings, At: s.now()}
		if ev.Settings == nil {
			ev.Settings = map[string]string{}
		}
		if _, err := s.append(ctx, domain.UserStream(userID), eventstore.Exact(u.version), userID, ev); err != nil {
			return err
		}
		out = s.mustUser(userID).Settings
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GrantAccount lets a user see (and, as a trader, trade) account. Granting
// an account the user has already is a no-op.
func (s *Service) GrantAccount(ctx context.Context, userID, account, by string) (User, error) {
	return s.access(ctx, userID, strings.TrimSpace(account), by, true)
}

// RevokeAccount takes a granted account away. Revoking one the user does
// not have is a no-op; the paper account cannot be revoked.
func (s *Service) RevokeAccount(ctx context.Context, userID, account, by string) (User, error) {
	return s.access(ctx, userID, strings.TrimSpace(account), by, false)
}

func (s *Service) access(ctx context.Context, userID, account, by string, grant bool) (User, error) {
	var out User
	err := s.command(ctx, nil, func(revs *[]revocation) error {
		u, err := s.lockedUser(userID)
		if err != nil {
			return err
		}
		if account == u.paper {
			if grant {
				out = u.view()
				return nil
			}
			return &InputError{Field: "account", Reason: "a user's paper account cannot be revoked"}
		}
		if slices.Contains(u.granted, account) == grant {
			out = u.view()
			return nil
		}
		a := domain.AccountAccess{UserID: userID, Account: account, By: by, At: s.now()}
		var ev domain.Event = domain.AccountAccessGranted{AccountAccess: a}
		if !grant {
			ev = domain.AccountAccessRevoked{AccountAccess: a}
		}
		r, err := s.append(ctx, domain.UserStream(userID), eventstore.Exact(u.version), by, ev)
		if err != nil {
			return err
		}
		*revs = append(*revs, r...) // a revoked account: the user's sockets reconnect without it
		s.log.Info("account access changed", "user", userID, "account", account, "granted", grant, "by", by)
		out = s.mustUser(userID)
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return out, nil
}

// addrKey is the rate-limit key of a remote address: its host.
func addrKey(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// limitKey bounds a username used as a limiter key.
func limitKey(name string) string {
	if len(name) > 64 {
		return name[:64]
	}
	return name
}

// Login checks a username and password and starts a session. Unknown
// users and wrong passwords both return ErrInvalidCredentials; too many
// failures for the username or the remote address return a
// *RateLimitError before any password is checked.
func (s *Service) Login(ctx context.Context, username, password, remoteAddr string) (Tokens, error) {
	if s.key == nil {
		return Tokens{}, ErrNoKey
	}
	name, addr := normalizeName(username), addrKey(remoteAddr)
	uk := limitKey(name)
	now := s.now()
	if d := max(s.userLim.blocked(uk, now), s.addrLim.blocked(addr, now)); d > 0 {
		s.log.Warn("login rate limited", "username", uk, "remote", addr, "retry_after", d.Round(time.Second))
		return Tokens{}, &RateLimitError{RetryAfter: d}
	}
	s.mu.RLock()
	u := s.byName[name]
	var phc, id string
	if u != nil {
		phc, id = u.hash, u.id
	}
	s.mu.RUnlock()
	if u == nil {
		var err error
		if phc, err = s.dummy(); err != nil {
			return Tokens{}, err
		}
	}
	match, err := s.verifyPassword(ctx, password, phc)
	if err != nil {
		return Tokens{}, err
	}
	if u == nil || !match {
		s.userLim.fail(uk, now)
		s.addrLim.fail(addr, now)
		s.log.Warn("login failed", "username", uk, "remote", addr)
		return Tokens{}, ErrInvalidCredentials
	}
	s.userLim.reset(uk)
	t, err := s.startSession(ctx, id, remoteAddr)
	if err != nil {
		return Tokens{}, err
	}
	s.log.Info("login", "user", id, "username", name, "remote", addr, "session", t.Family)
	return t, nil
}

func newRefreshToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("auth: refresh token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, tokenHash(token), nil
}

// tokenHash is the SHA-256 hex digest of a refresh token, as stored.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (s *Service) startSession(ctx context.Context, userID, remoteAddr string) (Tokens, error) {
	rt, h, err := newRefreshToken()
	if err != nil {
		return Tokens{}, err
	}
	fam, err := uuid.NewRandom()
	if err != nil {
		return Tokens{}, fmt.Errorf("auth: session id: %w", err)
	}
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	u, err := s.lockedUser(userID)
	if err != nil {
		return Tokens{}, err
	}
	now := s.now()
	if now.Sub(s.lastPrune) > time.Hour {
		s.mu.Lock()
		s.prune(now)
		s.mu.Unlock()
	}
	if len(remoteAddr) > 256 {
		remoteAddr = remoteAddr[:256]
	}
	ev := domain.SessionStarted{Family: fam.String(), UserID: userID, TokenHash: h, ExpiresAt: now.Add(s.cfg.RefreshTTL),
		RemoteAddr: remoteAddr, At: now}
	if ev.ExpiresAt.After(now.Add(s.cfg.MaxSessionAge)) {
		ev.ExpiresAt = now.Add(s.cfg.MaxSessionAge)
	}
	if _, err := s.append(ctx, domain.SessionStream(ev.Family), eventstore.NoStream(), userID, ev); err != nil {
		return Tokens{}, err
	}
	return s.issue(&u, ev.Family, rt, now, ev.ExpiresAt)
}

// claims are the access token's claims.
type claims struct {
	Role string `json:"role"`
	SID  string `json:"sid"`
	jwt.RegisteredClaims
}

// issue signs an access token for u in session family, valid AccessTTL but
// never past the session's end.
func (s *Service) issue(u *user, family, refresh string, now, sessionEnd time.Time) (Tokens, error) {
	exp := now.Add(s.cfg.AccessTTL)
	if exp.After(sessionEnd) {
		exp = sessionEnd
	}
	jti, err := uuid.NewRandom()
	if err != nil {
		return Tokens{}, fmt.Errorf("auth: token id: %w", err)
	}
	c := claims{Role: string(u.role), SID: family, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: s.cfg.Issuer, Subject: u.id, Audience: jwt.ClaimStrings{s.cfg.Audience},
		ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now), ID: jti.String(),
	}}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.key)
	if err != nil {
		return Tokens{}, fmt.Errorf("auth: sign access token: %w", err)
	}
	return Tokens{AccessToken: signed, RefreshToken: refresh, TokenType: "Bearer", ExpiresIn: int64(exp.Sub(now) / time.Second),
		AccessExpiresAt: exp, RefreshExpiresAt: sessionEnd, Family: family}, nil
}

// Refresh exchanges a refresh token for new tokens, rotating it: the
// presented token stops working. Presenting a token that was already
// rotated revokes its whole session (reason reuse) and fails, as do
// unknown, expired and revoked ones (ErrInvalidToken).
func (s *Service) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	if s.key == nil {
		return Tokens{}, ErrNoKey
	}
	if refreshToken == "" || len(refreshToken) > 256 {
		return Tokens{}, fmt.Errorf("refresh token: %w", ErrInvalidToken)
	}
	h := tokenHash(refreshToken)
	var revs []revocation
	if !s.knownToken(h) { // perhaps issued by another node a moment ago
		var err error
		if revs, err = s.catchUp(ctx); err != nil {
			s.notify(revs)
			return Tokens{}, err
		}
	}
	var t Tokens
	err := s.command(ctx, revs, func(revs *[]revocation) error {
		s.mu.RLock()
		var ss session
		p := s.sessions[s.byHash[h]]
		if p != nil {
			ss = *p
		}
		s.mu.RUnlock()
		now := s.now()
		switch {
		case p == nil:
			return fmt.Errorf("unknown refresh token: %w", ErrInvalidToken)
		case ss.revoked:
			return fmt.Errorf("refresh token of a revoked session: %w", ErrInvalidToken)
		case h != ss.hash:
			s.log.Warn("refresh token reuse: session revoked", "user", ss.userID, "session", ss.family)
			if err := s.revoke(ctx, &ss, domain.RevokeReuse, revs); err != nil {
				return err
			}
			return fmt.Errorf("refresh token already used, session revoked: %w", ErrInvalidToken)
		case !now.Before(ss.expires):
			return fmt.Errorf("refresh token expired: %w", ErrInvalidToken)
		}
		u, err := s.lockedUser(ss.userID)
		if err != nil {
			return fmt.Errorf("session of an unknown user: %w", ErrInvalidToken)
		}
		rt, nh, err := newRefreshToken()
		if err != nil {
			return err
		}
		ev := domain.SessionRefreshed{Family: ss.family, TokenHash: nh, ExpiresAt: now.Add(s.cfg.RefreshTTL), At: now}
		if end := ss.started.Add(s.cfg.MaxSessionAge); ev.ExpiresAt.After(end) {
			ev.ExpiresAt = end
		}
		if !ev.ExpiresAt.After(now) {
			return fmt.Errorf("session reached its maximum age: %w", ErrInvalidToken)
		}
		// Exact: of two refreshes of one token racing on two nodes, one
		// appends; the other conflicts, catches up and sees a reuse.
		if _, err := s.append(ctx, domain.SessionStream(ss.family), eventstore.Exact(ss.version), ss.userID, ev); err != nil {
			return err
		}
		t, err = s.issue(&u, ss.family, rt, now, ev.ExpiresAt)
		return err
	})
	if err != nil {
		return Tokens{}, err
	}
	return t, nil
}

// knownToken reports whether h is the hash of a refresh token this
// service has seen.
func (s *Service) knownToken(h string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.byHash[h]
	return ok
}

// revoke appends SessionRevoked for ss, adding the revocation to revs
// unless Follow reported it first (cmdMu held).
func (s *Service) revoke(ctx context.Context, ss *session, reason string, revs *[]revocation) error {
	ev := domain.SessionRevoked{Family: ss.family, UserID: ss.userID, Reason: reason, At: s.now()}
	r, err := s.append(ctx, domain.SessionStream(ss.family), eventstore.Exact(ss.version), ss.userID, ev)
	*revs = append(*revs, r...)
	return err
}

// revokeUser revokes every live session of a user, adding them to revs,
// and returns how many it revoked (cmdMu held).
func (s *Service) revokeUser(ctx context.Context, userID, reason string, revs *[]revocation) (int, error) {
	s.mu.RLock()
	var live []session
	for _, ss := range s.sessions {
		if ss.userID == userID && !ss.revoked {
			live = append(live, *ss)
		}
	}
	s.mu.RUnlock()
	for i := range live {
		if err := s.revoke(ctx, &live[i], reason, revs); err != nil {
			return i, err
		}
	}
	return len(live), nil
}

// Logout revokes the session of p (reason logout) and, when refreshToken
// is given and belongs to another live session of the same user, that one
// too. Logging out of a session that is already revoked is not an error.
func (s *Service) Logout(ctx context.Context, p Principal, refreshToken string) error {
	var revs []revocation
	if refreshToken != "" && len(refreshToken) <= 256 && !s.knownToken(tokenHash(refreshToken)) {
		var err error
		if revs, err = s.catchUp(ctx); err != nil { // its session may have started on another node
			s.notify(revs)
			return err
		}
	}
	revoked := 0
	err := s.command(ctx, revs, func(revs *[]revocation) error {
		families := []string{p.SessionFamily}
		if refreshToken != "" && len(refreshToken) <= 256 {
			s.mu.RLock()
			if f := s.byHash[tokenHash(refreshToken)]; f != "" && f != p.SessionFamily {
				families = append(families, f)
			}
			s.mu.RUnlock()
		}
		for _, f := range families {
			s.mu.RLock()
			var ss session
			ptr := s.sessions[f]
			if ptr != nil {
				ss = *ptr
			}
			s.mu.RUnlock()
			if ptr == nil || ss.revoked || ss.userID != p.UserID {
				continue
			}
			if err := s.revoke(ctx, &ss, domain.RevokeLogout, revs); err != nil {
				return err
			}
			revoked++
		}
		return nil
	})
	if revoked > 0 {
		s.log.Info("logout", "user", p.UserID, "sessions", revoked)
	}
	return err
}

// Verify checks an access token: HS256 signature with the service's key
// (no other algorithm), issuer, audience, exp (required) and iat within
// the leeway, and a session that is neither revoked nor expired. The
// principal carries the user's current role and accounts.
func (s *Service) Verify(accessToken string) (Principal, error) {
	if s.key == nil {
		return Principal{}, ErrNoKey
	}
	var c claims
	tok, err := s.parser.ParseWithClaims(accessToken, &c, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, errors.New("unexpected signing method")
		}
		return s.key, nil
	})
	if err != nil || !tok.Valid {
		s.log.Debug("access token refused", "err", err)
		return Principal{}, fmt.Errorf("access token: %w", ErrInvalidToken)
	}
	if c.Subject == "" || c.SID == "" || c.ID == "" {
		return Principal{}, fmt.Errorf("access token lacks sub, sid or jti: %w", ErrInvalidToken)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ss, u := s.sessions[c.SID], s.users[c.Subject]
	if ss == nil || ss.revoked || ss.userID != c.Subject || u == nil || !s.now().Before(ss.expires) {
		return Principal{}, fmt.Errorf("session revoked or expired: %w", ErrInvalidToken)
	}
	accounts := append([]string{u.paper}, u.granted...)
	slices.Sort(accounts)
	return Principal{UserID: u.id, Username: u.username, Role: u.role, AllAccounts: u.role == domain.RoleAdmin,
		Accounts: slices.Compact(accounts), SessionFamily: c.SID}, nil
}
