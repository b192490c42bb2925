package auth

import (
	"errors"
	"fmt"
	"time"
)

// Errors callers branch on (the HTTP layer maps each to one status).
var (
	// ErrInvalidCredentials: unknown username or wrong password (the two
	// are indistinguishable on purpose).
	ErrInvalidCredentials = errors.New("invalid username or password")
	// ErrNoToken: the request carries no access token.
	ErrNoToken = errors.New("authentication required: send Authorization: Bearer <access token>")
	// ErrInvalidToken: an access or refresh token that is malformed,
	// badly signed, expired, of a revoked session, or a reused refresh
	// token.
	ErrInvalidToken = errors.New("invalid or expired token")
	// ErrForbidden: the principal's role does not allow the action.
	ErrForbidden = errors.New("forbidden")
	// ErrUserExists: the username is taken.
	ErrUserExists = errors.New("user already exists")
	// ErrUserNotFound: no user with that id.
	ErrUserNotFound = errors.New("user not found")
	// ErrLastAdmin: the change would leave no admin.
	ErrLastAdmin = errors.New("the last admin cannot lose the admin role")
	// ErrRateLimited: too many failed attempts; see *RateLimitError.
	ErrRateLimited = errors.New("too many failed attempts")
	// ErrInvalid: a bad argument; see *InputError.
	ErrInvalid = errors.New("invalid input")
	// ErrNoKey: the service was built without a signing key, so it cannot
	// issue or verify tokens (user management still works).
	ErrNoKey = errors.New("auth: no signing key configured")
)

// InputError names the argument that is wrong and why. It matches
// ErrInvalid.
type InputError struct {
	Field  string
	Reason string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InputError) Is(target error) bool { return target == ErrInvalid }

// RateLimitError says when to try again. It matches ErrRateLimited.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%v: try again in %s", ErrRateLimited, e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }
