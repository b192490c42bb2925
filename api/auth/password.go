package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are Argon2id cost parameters. The defaults (64 MiB, 3 passes, 2
// lanes) are above the OWASP Password Storage Cheat Sheet minimum (19 MiB,
// t=2, p=1) and take a few hundred milliseconds on one core. Every hash
// carries its parameters (PHC format), so they can change without
// invalidating stored hashes.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are the parameters new hashes use unless Config says
// otherwise.
var DefaultParams = Params{Memory: 64 * 1024, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32}

// Password length limits, in characters (runes) and bytes.
const (
	MinPasswordLen   = 8
	MaxPasswordBytes = 1024
)

// Bounds on parameters read from a stored hash, so that a malformed or
// hostile hash cannot make verification allocate gigabytes or spin.
const (
	maxMemory  = 1 << 20 // 1 GiB in KiB
	maxTime    = 64
	maxThreads = 64
)

// CheckPassword returns an *InputError when pw is too short or too long.
func CheckPassword(field, pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return &InputError{Field: field, Reason: "must be valid UTF-8"}
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return &InputError{Field: field, Reason: fmt.Sprintf("must be at least %d characters", MinPasswordLen)}
	case len(pw) > MaxPasswordBytes:
		return &InputError{Field: field, Reason: fmt.Sprintf("must be at most %d bytes", MaxPasswordBytes)}
	}
	return nil
}

// HashPassword returns the Argon2id hash of pw in PHC format:
// $argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash> (unpadded standard base64).
// It does not check the password policy (see CheckPassword).
func HashPassword(pw string, p Params) (string, error) {
	if p.SaltLen < 8 || p.KeyLen < 16 || p.Time < 1 || p.Threads < 1 || p.Memory < 8*uint32(p.Threads) {
		return "", fmt.Errorf("auth: argon2id parameters %+v out of range", p)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches the PHC hash, comparing in
// constant time with the parameters read from the hash. A malformed hash
// is an error, never a match.
func VerifyPassword(pw, phc string) (bool, error) {
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// HashParams returns the parameters a PHC hash was made with.
func HashParams(phc string) (Params, error) {
	p, _, _, err := parsePHC(phc)
	return p, err
}

func parsePHC(phc string) (Params, []byte, []byte, error) {
	bad := func(why string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("auth: malformed argon2id hash: %s", why)
	}
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("want $argon2id$v=..$m=..,t=..,p=..$salt$hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return bad("unsupported version " + parts[2])
	}
	var p Params
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, threads) != parts[3] {
		return bad("parameters " + parts[3])
	}
	if p.Time < 1 || p.Time > maxTime || threads < 1 || threads > maxThreads || p.Memory < 8*threads || p.Memory > maxMemory {
		return bad("parameters out of range: " + parts[3])
	}
	p.Threads = uint8(threads)
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return bad("salt")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return bad("hash")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}
