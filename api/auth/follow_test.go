package auth_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/algoauto/algoauto/api/auth"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/postgres"
)

// openPair returns the stores of two nodes sharing one log.
type openPair func(t *testing.T) (a, b auth.Store)

// embeddedPair is one embedded store shared by both services (it belongs
// to one process).
func embeddedPair(t *testing.T) (auth.Store, auth.Store) {
	st := openStore(t, t.TempDir())
	t.Cleanup(func() { st.Close() })
	return st, st
}

// postgresPair is two PostgreSQL stores (two pools, two LISTEN
// connections) over one fresh schema, as two API nodes have; it skips the
// test without ALGOAUTO_TEST_POSTGRES.
func postgresPair(t *testing.T) (auth.Store, auth.Store) {
	url := os.Getenv("ALGOAUTO_TEST_POSTGRES")
	if url == "" {
		t.Skip("set ALGOAUTO_TEST_POSTGRES=postgres://... to run the multi-node tests against PostgreSQL")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "auth_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	open := func() *postgres.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := postgres.Open(ctx, postgres.Config{URL: url, Schema: schema, MaxConns: 4})
		if err != nil {
			t.Fatalf("open postgres store: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	return open(), open()
}

// forEachBackend runs test on the embedded pair and the PostgreSQL pair.
func forEachBackend(t *testing.T, test func(t *testing.T, open openPair)) {
	t.Helper()
	for _, be := range []struct {
		name string
		open openPair
	}{{"embedded", embeddedPair}, {"postgres", postgresPair}} {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			test(t, be.open)
		})
	}
}

// node is one API node: a service over its store, recording OnRevoke.
type node struct {
	t       *testing.T
	name    string
	svc     *auth.Service
	mu      sync.Mutex
	revoked map[string]int // "user/family" -> OnRevoke calls; "user/" -> OnAccessChange calls
}

func newNode(t *testing.T, name string, st auth.Store, key []byte, clock *clock) *node {
	t.Helper()
	svc, err := auth.NewService(st, auth.Config{Key: key, Params: cheap, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, name: name, svc: svc, revoked: map[string]int{}}
	svc.OnRevoke(func(userID, family string) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.revoked[userID+"/"+family]++
	})
	svc.OnAccessChange(func(userID string) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.revoked[userID+"/"]++
	})
	return n
}

// follow runs Follow until the test ends, and checks that it returns nil
// once cancelled.
func (n *node) follow() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.svc.Follow(ctx) }()
	n.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				n.t.Errorf("%s: Follow: %v", n.name, err)
			}
		case <-time.After(10 * time.Second):
			n.t.Errorf("%s: Follow did not return within 10s of its context ending", n.name)
		}
	})
}

func (n *node) revocations(userID, family string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.revoked[userID+"/"+family]
}

func (n *node) login(name, password string) auth.Tokens {
	n.t.Helper()
	tok, err := n.svc.Login(context.Background(), name, password, "10.0.0.2:4444")
	if err != nil {
		n.t.Fatalf("%s: login %s: %v", n.name, name, err)
	}
	return tok
}

// accepts reports whether n accepts an access token.
func (n *node) accepts(access string) bool {
	_, err := n.svc.Verify(access)
	return err == nil
}

// refuses reports whether n refuses an access token as invalid.
func (n *node) refuses(access string) bool {
	_, err := n.svc.Verify(access)
	return errors.Is(err, auth.ErrInvalidToken)
}

// cluster is two nodes, A and B, over one log, with one signing key and
// one clock.
type cluster struct {
	a, b  *node
	stA   auth.Store
	key   []byte
	clock *clock
}

// newCluster starts A and B; each runs Follow when its follow flag is set.
func newCluster(t *testing.T, open openPair, followA, followB bool) *cluster {
	t.Helper()
	stA, stB := open(t)
	c := &cluster{stA: stA, key: testKey(t), clock: newClock()}
	c.a = newNode(t, "A", stA, c.key, c.clock)
	c.b = newNode(t, "B", stB, c.key, c.clock)
	if followA {
		c.a.follow()
	}
	if followB {
		c.b.follow()
	}
	return c
}

// eventually polls cond until it holds, failing the test after a
// deadline generous enough for a loaded machine.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// streamTypes returns the event types of a stream and the last event's data.
func streamTypes(t *testing.T, st auth.Store, stream string) ([]string, string) {
	t.Helper()
	evs, err := st.ReadStream(context.Background(), stream, eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	return types, string(evs[len(evs)-1].Data)
}

// A user added, its password changed, its role changed and an account
// granted on A are seen on B.
func TestFollowUsers(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open openPair) {
		c := newCluster(t, open, true, true)
		ctx := context.Background()
		if _, err := c.a.svc.AddUser(ctx, "admin", "admin-password", domain.RoleAdmin, "test"); err != nil {
			t.Fatal(err)
		}
		asha, err := c.a.svc.AddUser(ctx, "asha", "asha-password", domain.RoleTrader, "test")
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "B has the user added on A", func() bool { _, ok := c.b.svc.User(asha.ID); return ok })
		tok := c.b.login("asha", "asha-password")
		p, err := c.b.svc.Verify(tok.AccessToken)
		if err != nil || p.Role != domain.RoleTrader {
			t.Fatalf("B: %+v %v", p, err)
		}

		// A role demotion and a grant on A apply to B's tokens.
		if _, err := c.a.svc.SetRole(ctx, asha.ID, domain.RoleViewer, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.a.svc.GrantAccount(ctx, asha.ID, "live-1", "test"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "B sees the role and the grant made on A", func() bool {
			p, err := c.b.svc.Verify(tok.AccessToken)
			return err == nil && p.Role == domain.RoleViewer && !p.CanWrite() && p.CanSee("live-1")
		})
		// The role change (not the grant) is an access change on both
		// nodes, once each; so is taking an account away.
		eventually(t, "B's OnAccessChange fires for the role change", func() bool { return c.b.revocations(asha.ID, "") == 1 })
		if _, err := c.a.svc.RevokeAccount(ctx, asha.ID, "live-1", "test"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "B's OnAccessChange fires for the revoked account", func() bool { return c.b.revocations(asha.ID, "") == 2 })
		// A's own Follow may apply the change before the command does: the
		// hook then runs on Follow's goroutine, a moment later.
		eventually(t, "A's OnAccessChange fires twice", func() bool { return c.a.revocations(asha.ID, "") == 2 })
		if _, err := c.a.svc.GrantAccount(ctx, asha.ID, "live-1", "test"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "B sees the account granted again", func() bool {
			p, err := c.b.svc.Verify(tok.AccessToken)
			return err == nil && p.CanSee("live-1")
		})

		// A password change on A ends the session started on B, on B too,
		// and B takes the new password.
		eventually(t, "A knows the session started on B", func() bool { return c.a.accepts(tok.AccessToken) })
		if err := c.a.svc.ChangePassword(ctx, asha.ID, "asha-password", "new-password-1"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "B refuses the access token after the password change on A", func() bool { return c.b.refuses(tok.AccessToken) })
		eventually(t, "B's OnRevoke fires", func() bool { return c.b.revocations(asha.ID, tok.Family) == 1 })
		if _, err := c.b.svc.Login(ctx, "asha", "asha-password", "10.0.0.2:1"); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Errorf("B accepts the old password: %v", err)
		}
		c.b.login("asha", "new-password-1")
		if u, _ := c.b.svc.User(asha.ID); u.Role != domain.RoleViewer || !slices.Equal(u.Granted, []string{"live-1"}) {
			t.Errorf("B's user %+v", u)
		}
	})
}

// A logout on A makes B refuse the session's tokens and fire its OnRevoke
// hooks; each node fires them once (A does not again when its own
// revocation comes back through the log).
func TestFollowLogout(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open openPair) {
		c := newCluster(t, open, true, true)
		ctx := context.Background()
		asha, err := c.a.svc.AddUser(ctx, "asha", "asha-password", domain.RoleTrader, "test")
		if err != nil {
			t.Fatal(err)
		}
		tok, other := c.a.login("asha", "asha-password"), c.a.login("asha", "asha-password")
		eventually(t, "B accepts the access token issued by A", func() bool { return c.b.accepts(tok.AccessToken) && c.b.accepts(other.AccessToken) })
		p, err := c.a.svc.Verify(tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.a.svc.Logout(ctx, p, ""); err != nil {
			t.Fatal(err)
		}
		if !c.a.refuses(tok.AccessToken) || c.a.revocations(asha.ID, tok.Family) != 1 {
			t.Fatalf("A after its logout: refuses %v, OnRevoke %d", c.a.refuses(tok.AccessToken), c.a.revocations(asha.ID, tok.Family))
		}
		eventually(t, "B refuses the access token after the logout on A", func() bool { return c.b.refuses(tok.AccessToken) })
		eventually(t, "B's OnRevoke fires", func() bool { return c.b.revocations(asha.ID, tok.Family) == 1 })
		if _, err := c.b.svc.Refresh(ctx, tok.RefreshToken); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("B refreshes a session logged out on A: %v", err)
		}
		if !c.b.accepts(other.AccessToken) {
			t.Error("B refuses the user's other session")
		}

		// Once A has followed past its own revocation (a later event from
		// B reached it), it still counts one OnRevoke call, and B too.
		if _, err := c.b.svc.UpdateSettings(ctx, asha.ID, map[string]string{"marker": "1"}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "A sees B's settings", func() bool { u, _ := c.a.svc.User(asha.ID); return u.Settings["marker"] == "1" })
		if a, b := c.a.revocations(asha.ID, tok.Family), c.b.revocations(asha.ID, tok.Family); a != 1 || b != 1 {
			t.Errorf("OnRevoke calls: A %d, B %d, want 1 each", a, b)
		}
		if c.a.revocations(asha.ID, other.Family)+c.b.revocations(asha.ID, other.Family) != 0 {
			t.Error("OnRevoke for the session not logged out")
		}
	})
}

// Two nodes refreshing one token at once: exactly one succeeds, the other
// answers as a reuse and the family is revoked on both.
func TestFollowConcurrentRefresh(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open openPair) {
		c := newCluster(t, open, true, true)
		ctx := context.Background()
		asha, err := c.a.svc.AddUser(ctx, "asha", "asha-password", domain.RoleTrader, "test")
		if err != nil {
			t.Fatal(err)
		}
		for round := range 6 {
			t.Run(fmt.Sprint(round), func(t *testing.T) {
				tok := c.a.login("asha", "asha-password")
				eventually(t, "B knows the session", func() bool { return c.b.accepts(tok.AccessToken) })
				var toks [2]auth.Tokens
				var errs [2]error
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i, n := range []*node{c.a, c.b} {
					wg.Go(func() {
						<-start
						toks[i], errs[i] = n.svc.Refresh(ctx, tok.RefreshToken)
					})
				}
				close(start)
				wg.Wait()
				won := -1
				for i, err := range errs {
					switch {
					case err == nil:
						if won >= 0 {
							t.Fatal("both refreshes succeeded")
						}
						won = i
					case !errors.Is(err, auth.ErrInvalidToken):
						t.Errorf("node %d: %v, want ErrInvalidToken", i, err)
					}
				}
				if won < 0 {
					t.Fatalf("no refresh succeeded: %v", errs)
				}
				for _, n := range []*node{c.a, c.b} {
					eventually(t, n.name+" refuses the family's access tokens", func() bool {
						return n.refuses(tok.AccessToken) && n.refuses(toks[won].AccessToken)
					})
					eventually(t, n.name+"'s OnRevoke fires", func() bool { return n.revocations(asha.ID, tok.Family) == 1 })
					if _, err := n.svc.Refresh(ctx, toks[won].RefreshToken); !errors.Is(err, auth.ErrInvalidToken) {
						t.Errorf("%s refreshes the winner's token of a revoked family: %v", n.name, err)
					}
				}
				types, last := streamTypes(t, c.stA, domain.SessionStream(tok.Family))
				if !slices.Equal(types, []string{domain.TypeSessionStarted, domain.TypeSessionRefreshed, domain.TypeSessionRevoked}) ||
					!strings.Contains(last, `"reason":"reuse"`) {
					t.Errorf("session stream %v, last %s", types, last)
				}
			})
		}
	})
}

// A node that lags behind (here: not following) still decides on fresh
// state: a conflicting append catches the stream up and decides again, an
// unknown refresh token catches the log up first. Once it follows, both
// nodes agree on who owns a username registered on both at once.
func TestLaggingNode(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open openPair) {
		c := newCluster(t, open, true, false)
		ctx := context.Background()
		asha, err := c.a.svc.AddUser(ctx, "asha", "asha-password", domain.RoleTrader, "test")
		if err != nil {
			t.Fatal(err)
		}
		// B has not seen asha: a refresh token issued by A is caught up.
		tok := c.a.login("asha", "asha-password")
		t2, err := c.b.svc.Refresh(ctx, tok.RefreshToken)
		if err != nil {
			t.Fatalf("B refreshes a token issued by A: %v", err)
		}
		// A changes asha's settings; B's role change conflicts on the
		// user stream, catches up and applies on top.
		if _, err := c.a.svc.UpdateSettings(ctx, asha.ID, map[string]string{"theme": "dark"}); err != nil {
			t.Fatal(err)
		}
		u, err := c.b.svc.SetRole(ctx, asha.ID, domain.RoleViewer, "test")
		if err != nil {
			t.Fatalf("B's role change over A's settings: %v", err)
		}
		if u.Role != domain.RoleViewer || u.Settings["theme"] != "dark" {
			t.Errorf("B's user %+v", u)
		}
		// A logs out the session B rotated; B's rotation of the new token
		// conflicts, catches up and finds it revoked, and fires OnRevoke.
		p, err := c.a.svc.Verify(t2.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.a.svc.Logout(ctx, p, ""); err != nil {
			t.Fatal(err)
		}
		if !c.b.accepts(t2.AccessToken) {
			t.Fatal("B, not following, already refuses the token")
		}
		if _, err := c.b.svc.Refresh(ctx, t2.RefreshToken); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("B refreshes a session logged out on A: %v", err)
		}
		if !c.b.refuses(t2.AccessToken) || c.b.revocations(asha.ID, tok.Family) != 1 {
			t.Errorf("B after catching up: refuses %v, OnRevoke %d", c.b.refuses(t2.AccessToken), c.b.revocations(asha.ID, tok.Family))
		}

		// "bob" registered on A, then on B, which has not seen A's: the
		// first in the log keeps the name on both once B follows.
		bobA, err := c.a.svc.AddUser(ctx, "bob", "bob-password-a", domain.RoleViewer, "test")
		if err != nil {
			t.Fatal(err)
		}
		bobB, err := c.b.svc.AddUser(ctx, "bob", "bob-password-b", domain.RoleViewer, "test")
		if err != nil {
			t.Fatalf("B registers bob, not knowing A's: %v", err)
		}
		c.b.follow()
		for _, n := range []*node{c.a, c.b} {
			eventually(t, n.name+" keeps the first bob", func() bool {
				_, okA := n.svc.User(bobA.ID)
				_, okB := n.svc.User(bobB.ID)
				return okA && !okB
			})
			if _, err := n.svc.Login(ctx, "bob", "bob-password-a", "10.0.0.3:1"); err != nil {
				t.Errorf("%s: the first bob cannot log in: %v", n.name, err)
			}
		}
		for _, n := range []*node{c.a, c.b} {
			var names []string
			for _, u := range n.svc.Users() {
				names = append(names, u.Username)
			}
			if !slices.Equal(names, []string{"asha", "bob"}) {
				t.Errorf("%s: users %v", n.name, names)
			}
		}
	})
}

// Follow runs once at a time, returns nil when its context ends or the
// store is closed, and a Load while it runs does not lose events.
func TestFollowLifecycle(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	clock := newClock()
	n := newNode(t, "A", st, testKey(t), clock)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.svc.Follow(ctx) }()
	other, err := auth.NewService(st, auth.Config{Params: cheap, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.AddUser(ctx, "asha", "asha-password", domain.RoleTrader, "test"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Follow folds asha", func() bool { return len(n.svc.Users()) == 1 })
	if err := n.svc.Follow(ctx); err == nil || !strings.Contains(err.Error(), "running already") {
		t.Errorf("a second Follow: %v", err)
	}
	if err := n.svc.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := other.AddUser(ctx, "bob", "bob-password", domain.RoleTrader, "test"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Follow folds bob after a Load", func() bool { return len(n.svc.Users()) == 2 })

	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Follow after the store closed: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Follow did not return after the store closed")
	}
}
