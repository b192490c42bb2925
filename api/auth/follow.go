package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/algoauto/algoauto/eventstore"
)

// authFilter selects the user and session events (and, in practice, only
// them: other streams do not use these types; fold checks the stream too).
func authFilter() eventstore.Filter { return eventstore.Filter{Types: eventTypes} }

// authStream reports whether stream is a user or session stream.
func authStream(stream string) bool {
	return strings.HasPrefix(stream, "user-") || strings.HasPrefix(stream, "session-") || strings.HasPrefix(stream, "apikey-")
}

// errReloaded ends a Follow subscription that started before a Load
// replaced the state: it resubscribes from the position Load reached.
var errReloaded = errors.New("auth: state reloaded")

// Follow keeps the service up to date with the log after Load: it folds,
// in log order, every user and session event appended since, whether by
// another process sharing the store (another API node, the users CLI) or
// by this one (whose commands applied them already: applying is
// idempotent by stream version), and calls the OnRevoke hooks for sessions
// revoked elsewhere. Run it once, in its own goroutine, for as long as the
// service serves; every API node over a shared store must. After a store
// error it resubscribes from the last position folded, with a capped
// backoff. It returns nil when ctx ends or the store is closed, and an
// error only when another Follow is running.
//
// Until an event reaches this node, Verify here still accepts the tokens
// it revokes: the lag is that of the store's subscription (a LISTEN/NOTIFY
// round trip for PostgreSQL, at most its poll interval otherwise).
func (s *Service) Follow(ctx context.Context) error {
	if !s.following.CompareAndSwap(false, true) {
		return errors.New("auth: Follow is running already")
	}
	defer s.following.Store(false)
	const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	for {
		progressed, err := s.follow(ctx)
		switch {
		case ctx.Err() != nil, errors.Is(err, eventstore.ErrClosed):
			return nil
		case errors.Is(err, errReloaded):
			continue
		}
		if progressed {
			backoff = minBackoff
		}
		s.log.Warn("following the log failed; resubscribing", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(2*backoff, maxBackoff)
	}
}

// follow runs one subscription from the last position folded until it
// fails; progressed reports that it folded something first.
func (s *Service) follow(ctx context.Context) (progressed bool, err error) {
	s.mu.RLock()
	from, loads := s.pos, s.loads
	s.mu.RUnlock()
	sub, err := s.st.Subscribe(ctx, from, authFilter())
	if err != nil {
		return false, fmt.Errorf("auth: follow the log after %d: %w", from, err)
	}
	defer sub.Close()
	for {
		msg, err := sub.Next(ctx)
		if err != nil {
			return progressed, fmt.Errorf("auth: follow the log after %d: %w", from, err)
		}
		s.mu.Lock()
		if s.loads != loads {
			s.mu.Unlock()
			return progressed, errReloaded
		}
		revs, _ := s.fold(msg.Events, false)
		s.pos = max(s.pos, msg.Position)
		from = msg.Position
		s.mu.Unlock()
		s.notify(revs)
		progressed = true
	}
}

// catchUp folds what Follow has not folded yet, up to the log's head as
// of the call, for a command that must not decide on a lagging state (a
// refresh token issued by another node a moment ago). It returns the
// sessions it found revoked, for the OnRevoke hooks.
func (s *Service) catchUp(ctx context.Context) ([]revocation, error) {
	const page = 1000
	var revs []revocation
	for {
		s.mu.RLock()
		after := s.pos
		s.mu.RUnlock()
		evs, err := s.st.ReadAll(ctx, eventstore.ReadAllOptions{After: after, Count: page, Filter: authFilter()})
		if err != nil {
			return revs, fmt.Errorf("auth: catch up after %d: %w", after, err)
		}
		s.mu.Lock()
		r, _ := s.fold(evs, false)
		if n := len(evs); n > 0 {
			s.pos = max(s.pos, evs[n-1].Position)
		}
		s.mu.Unlock()
		revs = append(revs, r...)
		if len(evs) < page {
			return revs, nil
		}
	}
}

// catchUpStream folds the events of one stream that this service has not
// seen, after an append to it met a concurrency conflict. It returns the
// sessions it found revoked, for the OnRevoke hooks.
func (s *Service) catchUpStream(ctx context.Context, stream string) ([]revocation, error) {
	const page = 1000
	var revs []revocation
	for {
		s.mu.RLock()
		from := s.nextVersion(stream)
		s.mu.RUnlock()
		evs, err := s.st.ReadStream(ctx, stream, eventstore.ReadStreamOptions{From: from, Count: page})
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return revs, nil
		}
		if err != nil {
			return revs, fmt.Errorf("auth: catch up %s from version %d: %w", stream, from, err)
		}
		s.mu.Lock()
		r, _ := s.fold(evs, false)
		s.mu.Unlock()
		revs = append(revs, r...)
		if len(evs) < page {
			return revs, nil
		}
	}
}

// nextVersion is the first version of stream this service has not applied
// (mu held).
func (s *Service) nextVersion(stream string) uint64 {
	if id, ok := strings.CutPrefix(stream, "user-"); ok {
		if u := s.users[id]; u != nil {
			return u.version + 1
		}
	} else if f, ok := strings.CutPrefix(stream, "session-"); ok {
		if ss := s.sessions[f]; ss != nil {
			return ss.version + 1
		}
	} else if id, ok := strings.CutPrefix(stream, "apikey-"); ok {
		if k := s.keys[id]; k != nil {
			return k.version + 1
		}
	}
	return 0
}

// fold decodes and applies the user and session events of evs (mu held
// for writing) and returns the sessions they revoked here, the events
// applied (those already applied are skipped). An event that does not
// decode fails a strict fold; otherwise it is logged and skipped, so that
// one bad event does not hide the revocations after it.
func (s *Service) fold(evs []eventstore.RecordedEvent, strict bool) ([]revocation, error) {
	var revs []revocation
	for i := range evs {
		ev := &evs[i]
		if !authStream(ev.Stream) {
			continue
		}
		e, err := s.reg.Decode(ev)
		if err != nil {
			if strict {
				return revs, fmt.Errorf("event at position %d: %w", ev.Position, err)
			}
			s.log.Error("user or session event skipped: it does not decode", "stream", ev.Stream, "version", ev.Version,
				"position", ev.Position, "err", err)
			continue
		}
		if r := s.apply(ev.Version, ev.Position, e); r != nil {
			revs = append(revs, *r)
		}
	}
	return revs, nil
}

// maxAttempts bounds how often a command decides again after its append
// met a concurrency conflict.
const maxAttempts = 4

// command runs decide with cmdMu held. decide reads the state, decides and
// appends with the stream's expected version. When the append meets a
// concurrency conflict (another process appended to that stream since
// this one last saw it), command folds the stream's new events from the
// log and runs decide again on the fresh state, up to maxAttempts times;
// decide must therefore not redo what an earlier attempt made durable (it
// reads that back from the state). The sessions revoked, by decide through
// revs or found revoked while catching up, go to the OnRevoke hooks once
// cmdMu is released.
func (s *Service) command(ctx context.Context, revs []revocation, decide func(revs *[]revocation) error) error {
	err := func() error {
		s.cmdMu.Lock()
		defer s.cmdMu.Unlock()
		for attempt := 1; ; attempt++ {
			err := decide(&revs)
			var ce *eventstore.ConflictError
			if attempt == maxAttempts || !errors.As(err, &ce) {
				return err
			}
			found, cerr := s.catchUpStream(ctx, ce.Stream)
			revs = append(revs, found...)
			if cerr != nil {
				return cerr
			}
		}
	}()
	s.notify(revs)
	return err
}
