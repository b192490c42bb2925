package domain

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Stable event type names of the API key family. An API key lets a webhook
// (an n8n flow, a TradingView-style alert) submit signals for one source
// and one account; its events live in "apikey-<key uuid>".
const (
	TypeAPIKeyCreated = "APIKeyCreated"
	TypeAPIKeyRevoked = "APIKeyRevoked"
)

// APIKeyStream returns the stream of an API key: "apikey-<key id>".
func APIKeyStream(keyID string) string { return "apikey-" + keyID }

// Signal source rules for API keys: 1 to 64 characters, lower-case ASCII
// letters, digits, '.', '_' and '-', starting with a letter. No ':' so that
// a key's source never collides with "user:<name>" or "strategy:...".
const MaxSourceLen = 64

// ValidSource reports why source is not a valid API key source, or "" when
// it is.
func ValidSource(source string) string {
	if source == "" || len(source) > MaxSourceLen {
		return fmt.Sprintf("must be 1 to %d characters, got %d", MaxSourceLen, len(source))
	}
	if source[0] < 'a' || source[0] > 'z' {
		return "must start with a lower-case letter"
	}
	if strings.Trim(source, "abcdefghijklmnopqrstuvwxyz0123456789._-") != "" {
		return "may hold only a-z, 0-9, '.', '_' and '-'"
	}
	return ""
}

// MaxAPIKeyNameBytes bounds an API key's optional label.
const MaxAPIKeyNameBytes = 128

// ValidAPIKeyName reports why name is not a valid API key label, or "" when
// it is (empty is valid).
func ValidAPIKeyName(name string) string {
	if len(name) > MaxAPIKeyNameBytes || !utf8.ValidString(name) {
		return fmt.Sprintf("must be at most %d bytes of UTF-8", MaxAPIKeyNameBytes)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "must not hold control characters"
		}
	}
	return ""
}

// APIKeyCreated records a new API key: the signal source it speaks for,
// the one account it may trade, an optional label and the SHA-256 (hex) of
// its secret. The secret itself is shown once and never stored.
type APIKeyCreated struct {
	KeyID   string    `json:"key_id"`
	Source  string    `json:"source"`
	Account string    `json:"account"`
	Name    string    `json:"name,omitempty"`
	Hash    string    `json:"hash"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

// EventType implements Event.
func (APIKeyCreated) EventType() string { return TypeAPIKeyCreated }

// Validate implements Event.
func (e APIKeyCreated) Validate() error {
	c := checker{typ: TypeAPIKeyCreated}
	c.uuidField("key_id", e.KeyID)
	if why := ValidSource(e.Source); why != "" {
		c.fail("source", "%s", why)
	}
	c.account("account", e.Account)
	if why := ValidAPIKeyName(e.Name); why != "" {
		c.fail("name", "%s", why)
	}
	c.tokenHash("hash", e.Hash)
	c.nonEmpty("by", e.By)
	c.timeSet("at", e.At)
	return c.result()
}

// APIKeyRevoked ends an API key: its secret is refused from now on.
type APIKeyRevoked struct {
	KeyID string    `json:"key_id"`
	By    string    `json:"by"`
	At    time.Time `json:"at"`
}

// EventType implements Event.
func (APIKeyRevoked) EventType() string { return TypeAPIKeyRevoked }

// Validate implements Event.
func (e APIKeyRevoked) Validate() error {
	c := checker{typ: TypeAPIKeyRevoked}
	c.uuidField("key_id", e.KeyID)
	c.nonEmpty("by", e.By)
	c.timeSet("at", e.At)
	return c.result()
}
