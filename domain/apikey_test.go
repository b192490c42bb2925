package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
)

func TestAPIKeyEvents(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	ok := domain.APIKeyCreated{KeyID: testFamily, Source: "n8n", Account: "paper-asha", Hash: testHash, By: "admin", At: at}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for field, bad := range map[string]func(e *domain.APIKeyCreated){
		"key_id":  func(e *domain.APIKeyCreated) { e.KeyID = "k1" },
		"source":  func(e *domain.APIKeyCreated) { e.Source = "user:asha" },
		"account": func(e *domain.APIKeyCreated) { e.Account = "a,b" },
		"name":    func(e *domain.APIKeyCreated) { e.Name = "a\nb" },
		"hash":    func(e *domain.APIKeyCreated) { e.Hash = "aak_secret" },
		"by":      func(e *domain.APIKeyCreated) { e.By = "" },
		"at":      func(e *domain.APIKeyCreated) { e.At = time.Time{} },
	} {
		e := ok
		bad(&e)
		var fe *domain.FieldError
		if err := e.Validate(); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v", field, e.Validate())
		}
	}
	for _, s := range []string{"n8n", "tradingview", "a", "tv-alerts_2.x"} {
		if why := domain.ValidSource(s); why != "" {
			t.Errorf("source %q: %s", s, why)
		}
	}
	for _, s := range []string{"", "N8N", "8n", "user:asha", "strategy:x", "a b", string(make([]byte, 65))} {
		if domain.ValidSource(s) == "" {
			t.Errorf("source %q accepted", s)
		}
	}
	if err := (domain.APIKeyRevoked{KeyID: ok.KeyID, By: "admin", At: at}).Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (domain.APIKeyRevoked{KeyID: ok.KeyID, At: at}).Validate(); err == nil {
		t.Fatal("revoked without by accepted")
	}
}
