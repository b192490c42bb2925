package zerodha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"unicode"

	"github.com/algoauto/algoauto/domain"
)

// ErrNoSession is wrapped by the errors of calls made without an access
// token and by Kite's TokenException (the session expired or was
// invalidated: log in again).
var ErrNoSession = errors.New("zerodha: no valid Kite session")

// Kite's error types (error_type of an error envelope).
const (
	TokenException   = "TokenException"
	NetworkException = "NetworkException"
	DataException    = "DataException"
)

// maxBody bounds the body of an answer Kite may send (a busy day's order
// book is well under a megabyte).
const maxBody = 32 << 20

// APIError is an answer of Kite with an HTTP status of 400 or more.
// ErrorType and Message are those of Kite's error envelope; ErrorType is
// empty when the body was not Kite's envelope (a proxy's page), and Message
// then holds the start of the body.
type APIError struct {
	Op        string // what was being done, e.g. "place A234... (POST /orders/regular)"
	Status    int
	ErrorType string
	Message   string
}

func (e *APIError) Error() string {
	t := e.ErrorType
	if t == "" {
		t = "no Kite error envelope"
	}
	return fmt.Sprintf("zerodha: %s: HTTP %d (%s): %s", e.Op, e.Status, t, e.Message)
}

// Is makes a TokenException match ErrNoSession.
func (e *APIError) Is(target error) bool {
	return target == ErrNoSession && e.ErrorType == TokenException
}

// refused reports whether Kite refused the request: a 4xx other than 429
// in Kite's envelope, of an error type that does not say Kite failed to
// talk to its order system.
func (e *APIError) refused() bool {
	if e.ErrorType == "" || e.Status < 400 || e.Status >= 500 || e.Status == http.StatusTooManyRequests {
		return false
	}
	return e.ErrorType != NetworkException && e.ErrorType != DataException
}

// rateLimited reports whether Kite's rate limiter refused the request.
func (e *APIError) rateLimited() bool {
	return e.Status == http.StatusTooManyRequests && e.ErrorType != ""
}

// reason is the reason of a REJECTED report for a refusal.
func (e *APIError) reason() string {
	if e.Message == "" {
		return e.ErrorType
	}
	return e.Message + " (" + e.ErrorType + ")"
}

// envelope is Kite's answer.
type envelope struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"error_type"`
	Message   string          `json:"message"`
}

// do sends one request and decodes the data of Kite's success envelope into
// out (nil: not decoded). op names the call in errors. An error wraps
// domain.ErrOrderNotSent when the request provably never reached Kite, is
// an *APIError for an error status, and is any other error otherwise (the
// outcome is unknown).
func (b *Broker) do(ctx context.Context, op, method, path string, params url.Values, out any) error {
	op = fmt.Sprintf("%s (%s %s)", op, method, path)
	notSent := func(err error) error { return fmt.Errorf("zerodha: %s: %w: %w", op, domain.ErrOrderNotSent, err) }
	if err := ctx.Err(); err != nil {
		return notSent(err)
	}
	token := b.token()
	if b.cfg.APIKey == "" || token == "" {
		return notSent(ErrNoSession)
	}
	u := b.cfg.BaseURL + path
	var body io.Reader
	if method == http.MethodPost || method == http.MethodPut {
		body = strings.NewReader(params.Encode())
	} else if len(params) > 0 {
		u += "?" + params.Encode()
	}
	// Whether the request got a connection tells "never sent" (DNS,
	// refused, dial or TLS failure) from "sent, answer lost".
	var gotConn atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, u, body)
	if err != nil {
		return notSent(err)
	}
	req.Header.Set("X-Kite-Version", "3")
	req.Header.Set("Authorization", "token "+b.cfg.APIKey+":"+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.cfg.HTTPClient.Do(req)
	if err != nil {
		if !gotConn.Load() {
			return notSent(err)
		}
		return fmt.Errorf("zerodha: %s: %w", op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("zerodha: %s: reading the answer (HTTP %d): %w", op, resp.StatusCode, err)
	}
	if len(raw) > maxBody {
		return fmt.Errorf("zerodha: %s: the answer (HTTP %d) is over %d bytes", op, resp.StatusCode, maxBody)
	}
	var env envelope
	jerr := json.Unmarshal(raw, &env)
	if resp.StatusCode >= 400 {
		ae := &APIError{Op: op, Status: resp.StatusCode}
		if jerr == nil && env.Status == "error" && env.ErrorType != "" {
			ae.ErrorType, ae.Message = env.ErrorType, env.Message
		} else {
			ae.Message = snippet(raw)
		}
		return ae
	}
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("zerodha: %s: unexpected HTTP %d: %s", op, resp.StatusCode, snippet(raw))
	case jerr != nil:
		return fmt.Errorf("zerodha: %s: malformed answer (HTTP %d): %w", op, resp.StatusCode, jerr)
	case env.Status != "success":
		return fmt.Errorf("zerodha: %s: malformed answer (HTTP %d): status %q, not success", op, resp.StatusCode, env.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("zerodha: %s: malformed data: %w", op, err)
	}
	return nil
}

// snippet is the start of a body for an error message, on one line.
func snippet(raw []byte) string {
	s := string(raw)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}
