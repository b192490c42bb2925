package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MinKeyLen is the shortest HS256 signing key accepted, in bytes (the hash
// output size, RFC 7518 §3.2).
const MinKeyLen = 32

// ErrWeakKey: a signing key shorter than MinKeyLen or visibly not random.
var ErrWeakKey = errors.New("auth: weak JWT signing key")

// CheckKey refuses a key shorter than MinKeyLen bytes or with too few
// distinct byte values to have come from a random generator (a repeated
// character, a short word repeated).
func CheckKey(key []byte) error {
	if len(key) < MinKeyLen {
		return fmt.Errorf("%w: %d bytes, need at least %d random bytes (e.g. head -c 32 /dev/urandom | base64)", ErrWeakKey, len(key), MinKeyLen)
	}
	distinct := map[byte]struct{}{}
	for _, b := range key {
		distinct[b] = struct{}{}
	}
	if len(distinct) < 16 {
		return fmt.Errorf("%w: only %d distinct byte values in %d bytes; use random bytes (e.g. head -c 32 /dev/urandom | base64)", ErrWeakKey, len(distinct), len(key))
	}
	return nil
}

// ParseKey decodes a signing key given as base64 (standard or URL
// alphabet, padded or not), as ALGOAUTO_JWT_KEY carries it, and checks it.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	var key []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("auth: JWT key is not base64: %w", err)
	}
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	return key, nil
}

// LoadOrCreateKey reads the signing key stored (base64) in the file at
// path, or, when there is none, creates one of 32 random bytes: the
// directory with mode 0700, the file with mode 0600. created reports which.
// A key file readable by group or others, or a weak key, is refused.
func LoadOrCreateKey(path string) (key []byte, created bool, err error) {
	key, err = readKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("auth: create key directory: %w", err)
	}
	key = make([]byte, MinKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("auth: generate key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process created it first
		key, err = readKey(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("auth: create key file: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return nil, false, fmt.Errorf("auth: write key file: %w", werr)
	}
	return key, true, nil
}

func readKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("auth: key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("auth: key file %s has mode %04o: it must not be readable by group or others (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read key file: %w", err)
	}
	key, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}
