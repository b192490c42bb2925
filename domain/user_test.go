package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
)

const (
	testUser   = "0193a5b2-7c1e-7d3a-9b2f-4e5d6c7b8a91"
	testFamily = "0193a5b2-7c1e-7d3a-9b2f-4e5d6c7b8a92"
	testHash   = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	testPHC    = "$argon2id$v=19$m=65536,t=3,p=2$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"
)

func validRegistered() domain.UserRegistered {
	return domain.UserRegistered{UserID: testUser, Username: "asha", Role: domain.RoleTrader, PasswordHash: testPHC,
		PaperAccount: "paper-asha", By: "admin", At: validAt}
}

func validSessionStarted() domain.SessionStarted {
	return domain.SessionStarted{Family: testFamily, UserID: testUser, TokenHash: testHash,
		ExpiresAt: validAt.Add(time.Hour), RemoteAddr: "127.0.0.1", At: validAt}
}

func TestUserEventsValid(t *testing.T) {
	t.Parallel()
	access := domain.AccountAccess{UserID: testUser, Account: "acc-1", By: "admin", At: validAt}
	for _, e := range []domain.Event{
		validRegistered(),
		domain.UserPasswordChanged{UserID: testUser, PasswordHash: testPHC, By: testUser, At: validAt},
		domain.UserRoleChanged{UserID: testUser, Role: domain.RoleViewer, By: "admin", At: validAt},
		domain.UserSettingsUpdated{UserID: testUser, Settings: map[string]string{"theme": "dark"}, At: validAt},
		domain.UserSettingsUpdated{UserID: testUser, At: validAt}, // cleared
		domain.AccountAccessGranted{AccountAccess: access},
		domain.AccountAccessRevoked{AccountAccess: access},
		validSessionStarted(),
		domain.SessionRefreshed{Family: testFamily, TokenHash: testHash, ExpiresAt: validAt.Add(time.Hour), At: validAt},
		domain.SessionRevoked{Family: testFamily, UserID: testUser, Reason: domain.RevokeLogout, At: validAt},
	} {
		if err := e.Validate(); err != nil {
			t.Errorf("%s: %v", e.EventType(), err)
		}
	}
}

func TestUserEventValidationFailures(t *testing.T) {
	t.Parallel()
	reg := func(f func(*domain.UserRegistered)) domain.Event { v := validRegistered(); f(&v); return v }
	sess := func(f func(*domain.SessionStarted)) domain.Event { v := validSessionStarted(); f(&v); return v }
	many := map[string]string{}
	for i := range domain.MaxSettings + 1 {
		many[strings.Repeat("k", i%10+1)+string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	tests := []struct {
		name   string
		ev     domain.Event
		field  string
		reason string
	}{
		{"user id not a uuid", reg(func(e *domain.UserRegistered) { e.UserID = "u1" }), "user_id", "UUID"},
		{"username upper case", reg(func(e *domain.UserRegistered) { e.Username, e.PaperAccount = "Asha", "paper-Asha" }), "username", "lower-case"},
		{"username too short", reg(func(e *domain.UserRegistered) { e.Username, e.PaperAccount = "a", "paper-a" }), "username", "2 to 32"},
		{"username with space", reg(func(e *domain.UserRegistered) { e.Username, e.PaperAccount = "as ha", "paper-as ha" }), "username", "a-z"},
		{"bad role", reg(func(e *domain.UserRegistered) { e.Role = "root" }), "role", `got "root"`},
		{"not argon2id", reg(func(e *domain.UserRegistered) { e.PasswordHash = "$2b$10$abc" }), "password_hash", "argon2id"},
		{"plain password", reg(func(e *domain.UserRegistered) { e.PasswordHash = "hunter22" }), "password_hash", "argon2id"},
		{"wrong paper account", reg(func(e *domain.UserRegistered) { e.PaperAccount = "paper-bob" }), "paper_account", `"paper-asha"`},
		{"no by", reg(func(e *domain.UserRegistered) { e.By = "" }), "by", "must not be empty"},
		{"no at", reg(func(e *domain.UserRegistered) { e.At = time.Time{} }), "at", "must be set"},
		{"settings too many", domain.UserSettingsUpdated{UserID: testUser, Settings: many, At: validAt}, "settings", "at most 64 keys"},
		{"settings bad key", domain.UserSettingsUpdated{UserID: testUser, Settings: map[string]string{"Theme": "x"}, At: validAt}, "settings", `key "Theme"`},
		{"settings long value", domain.UserSettingsUpdated{UserID: testUser, Settings: map[string]string{"t": strings.Repeat("x", 1025)}, At: validAt}, "settings", "1024 bytes"},
		{"grant with comma", domain.AccountAccessGranted{AccountAccess: domain.AccountAccess{UserID: testUser, Account: "a,b", By: "admin", At: validAt}}, "account", "commas"},
		{"grant no account", domain.AccountAccessGranted{AccountAccess: domain.AccountAccess{UserID: testUser, By: "admin", At: validAt}}, "account", "must not be empty"},
		{"session token not hex", sess(func(e *domain.SessionStarted) { e.TokenHash = "raw-token" }), "token_hash", "SHA-256"},
		{"session upper-case hex", sess(func(e *domain.SessionStarted) { e.TokenHash = strings.ToUpper(testHash) }), "token_hash", "lower-case"},
		{"session expires before start", sess(func(e *domain.SessionStarted) { e.ExpiresAt = e.At }), "expires_at", "after at"},
		{"session family not uuid", sess(func(e *domain.SessionStarted) { e.Family = "2026-11-20" }), "family", "UUID"},
		{"revoked bad reason", domain.SessionRevoked{Family: testFamily, UserID: testUser, Reason: "bored", At: validAt}, "reason", `got "bored"`},
		{"role change bad role", domain.UserRoleChanged{UserID: testUser, Role: "", By: "a", At: validAt}, "role", "admin, trader or viewer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.ev.Validate()
			var fe *domain.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v, want a *FieldError", err)
			}
			if fe.Type != tc.ev.EventType() || fe.Field != tc.field || !strings.Contains(fe.Reason, tc.reason) {
				t.Errorf("Validate() = %v, want field %s with %q", err, tc.field, tc.reason)
			}
		})
	}
}

func TestParseRole(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]domain.Role{"admin": domain.RoleAdmin, " Trader ": domain.RoleTrader, "VIEWER": domain.RoleViewer} {
		if got, err := domain.ParseRole(in); err != nil || got != want {
			t.Errorf("ParseRole(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "root", "admins"} {
		if _, err := domain.ParseRole(in); err == nil {
			t.Errorf("ParseRole(%q) accepted", in)
		}
	}
	if domain.UserStream("u") != "user-u" || domain.SessionStream("f") != "session-f" || domain.PaperAccount("asha") != "paper-asha" {
		t.Error("stream or account naming changed")
	}
}
