package auth

import (
	"sync"
	"time"
)

// failureLimiter counts failures per key in fixed windows: a key with max
// failures in its current window is refused until the window ends. It holds
// at most maxKeys keys: when full, expired windows are dropped first, then
// the oldest window (so memory stays bounded under a spray of keys; the
// address limit still applies to the sprayer).
type failureLimiter struct {
	mu      sync.Mutex
	max     int
	window  time.Duration
	maxKeys int
	keys    map[string]*failureWindow
}

type failureWindow struct {
	start time.Time
	n     int
}

func newFailureLimiter(max int, window time.Duration, maxKeys int) *failureLimiter {
	return &failureLimiter{max: max, window: window, maxKeys: maxKeys, keys: map[string]*failureWindow{}}
}

// blocked returns how long key must wait, or 0 when it may try now.
func (l *failureLimiter) blocked(key string, now time.Time) time.Duration {
	if l.max <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.keys[key]
	if w == nil {
		return 0
	}
	end := w.start.Add(l.window)
	if !now.Before(end) {
		delete(l.keys, key)
		return 0
	}
	if w.n < l.max {
		return 0
	}
	return end.Sub(now)
}

// fail records a failure of key.
func (l *failureLimiter) fail(key string, now time.Time) {
	if l.max <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.keys[key]
	if w != nil && !now.Before(w.start.Add(l.window)) {
		w = nil
	}
	if w == nil {
		if _, ok := l.keys[key]; !ok && len(l.keys) >= l.maxKeys {
			l.evict(now)
		}
		w = &failureWindow{start: now}
		l.keys[key] = w
	}
	w.n++
}

// reset forgets key (a successful login).
func (l *failureLimiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.keys, key)
}

func (l *failureLimiter) evict(now time.Time) {
	var oldestKey string
	var oldest time.Time
	for k, w := range l.keys {
		if !now.Before(w.start.Add(l.window)) {
			delete(l.keys, k)
			continue
		}
		if oldestKey == "" || w.start.Before(oldest) {
			oldestKey, oldest = k, w.start
		}
	}
	if len(l.keys) >= l.maxKeys && oldestKey != "" {
		delete(l.keys, oldestKey)
	}
}

func (l *failureLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}
