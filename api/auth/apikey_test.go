package auth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/algoauto/algoauto/api/auth"
	"github.com/algoauto/algoauto/domain"
)

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	k, secret, err := f.svc.CreateAPIKey(ctx, "n8n", "paper-asha", "alerts", "admin-id")
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := strings.CutPrefix(secret, "aak_")
	if b, err := base64.RawURLEncoding.DecodeString(raw); !ok || err != nil || len(b) != 32 {
		t.Fatalf("secret %q: want aak_ and 32 bytes of base64url", secret)
	}
	if k.Source != "n8n" || k.Account != "paper-asha" || k.Name != "alerts" || k.CreatedBy != "admin-id" || k.Revoked {
		t.Fatalf("key %+v", k)
	}
	types, data := streamTypes(t, f.st, domain.APIKeyStream(k.ID))
	if len(types) != 1 || types[0] != domain.TypeAPIKeyCreated || strings.Contains(data, raw) || !strings.Contains(data, `"hash":"`) {
		t.Fatalf("stream %v %s: want APIKeyCreated with the hash only", types, data)
	}
	p, err := f.svc.VerifyAPIKey(ctx, secret, "10.0.0.9:1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Role != domain.RoleTrader || p.AllAccounts || !p.CanSee("paper-asha") || p.CanSee("paper-bob") || p.Source != "n8n" || p.APIKeyID != k.ID {
		t.Fatalf("principal %+v", p)
	}
	for _, bad := range []string{"", "aak_", secret + "x", "Bearer " + secret, strings.Repeat("a", 300)} {
		if _, err := f.svc.VerifyAPIKey(ctx, bad, "10.0.0.9:1"); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("key %.20q: %v, want ErrInvalidToken", bad, err)
		}
	}
	for _, c := range [][3]string{{"", "a"}, {"N8N", "a"}, {"user:x", "a"}, {"n8n", ""}, {"n8n", "a,b"}, {"n8n", "a", "bad\nname"}} {
		if _, _, err := f.svc.CreateAPIKey(ctx, c[0], c[1], c[2], "admin-id"); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("create %q: %v, want ErrInvalid", c, err)
		}
	}
	// A second service over the same store sees the key.
	if _, err := f.service().VerifyAPIKey(ctx, secret, "10.0.0.9:1"); err != nil {
		t.Fatalf("second service: %v", err)
	}
	if _, err := f.svc.RevokeAPIKey(ctx, "nope", "admin-id"); !errors.Is(err, auth.ErrAPIKeyNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	r, err := f.svc.RevokeAPIKey(ctx, k.ID, "admin-id")
	if err != nil || !r.Revoked || r.RevokedBy != "admin-id" || r.RevokedAt == nil {
		t.Fatalf("revoke: %+v %v", r, err)
	}
	if _, err := f.svc.RevokeAPIKey(ctx, k.ID, "admin-id"); err != nil {
		t.Fatalf("revoke again: %v", err)
	}
	if types, _ := streamTypes(t, f.st, domain.APIKeyStream(k.ID)); len(types) != 2 {
		t.Fatalf("stream %v: revoking twice appends once", types)
	}
	if _, err := f.svc.VerifyAPIKey(ctx, secret, "10.0.0.9:1"); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("revoked key: %v", err)
	}
	if ks := f.svc.APIKeys(); len(ks) != 1 || !ks[0].Revoked {
		t.Fatalf("keys %+v", ks)
	}
	if _, err := f.service().VerifyAPIKey(ctx, secret, "10.0.0.9:1"); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("revoked key after a reload: %v", err)
	}
}

// Failed key attempts count against the address, like logins; a blocked
// address is refused even with a good key until the window ends.
func TestAPIKeyRateLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	_, secret, err := f.svc.CreateAPIKey(ctx, "tv", "acc-1", "", "admin-id")
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := f.svc.VerifyAPIKey(ctx, "aak_wrong", "10.0.0.7:1"); !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatal(err)
		}
	}
	var rl *auth.RateLimitError
	if _, err := f.svc.VerifyAPIKey(ctx, secret, "10.0.0.7:2"); !errors.As(err, &rl) {
		t.Fatalf("blocked address: %v, want *RateLimitError", err)
	}
	if _, err := f.svc.VerifyAPIKey(ctx, secret, "10.0.0.8:1"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.svc.VerifyAPIKey(ctx, secret, "10.0.0.7:2"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// A key created on A works on B, through Follow (and, before Follow
// delivers it, through the catch-up of an unknown key); its revocation on
// A reaches B.
func TestFollowAPIKeys(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open openPair) {
		for _, followB := range []bool{true, false} {
			c := newCluster(t, open, true, followB)
			ctx := context.Background()
			k, secret, err := c.a.svc.CreateAPIKey(ctx, "n8n", "acc-1", "", "admin-id")
			if err != nil {
				t.Fatal(err)
			}
			if followB {
				eventually(t, "B lists the key", func() bool { _, ok := c.b.svc.APIKey(k.ID); return ok })
			}
			if p, err := c.b.svc.VerifyAPIKey(ctx, secret, "10.0.0.2:1"); err != nil || p.Source != "n8n" {
				t.Fatalf("B: %+v %v", p, err)
			}
			if _, err := c.a.svc.RevokeAPIKey(ctx, k.ID, "admin-id"); err != nil {
				t.Fatal(err)
			}
			if !followB {
				continue
			}
			eventually(t, "B refuses the revoked key", func() bool {
				_, err := c.b.svc.VerifyAPIKey(ctx, secret, "10.0.0.2:1")
				return errors.Is(err, auth.ErrInvalidToken)
			})
			// B revokes again (a no-op) and A agrees.
			if r, err := c.b.svc.RevokeAPIKey(ctx, k.ID, "admin-id"); err != nil || !r.Revoked {
				t.Fatalf("B revoke: %+v %v", r, err)
			}
		}
	})
}
