package projections_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/embedded"
	"github.com/algoauto/algoauto/projections"
)

func openStore(t *testing.T, dir string) *embedded.Store {
	t.Helper()
	st, err := embedded.Open(context.Background(), embedded.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// appendAll appends evs to st one by one (ids kept) and returns the head.
func appendAll(t *testing.T, st eventstore.Store, evs []eventstore.RecordedEvent) eventstore.Position {
	t.Helper()
	var head eventstore.Position
	for _, e := range evs {
		res, err := st.Append(context.Background(), e.Stream, eventstore.Any(), eventstore.EventData{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata})
		if err != nil {
			t.Fatal(err)
		}
		head = res.Position
	}
	return head
}

// tradingDay builds a log of ticks and orders.
func tradingDay(t *testing.T, b *logBuilder, rounds int) {
	for i := range rounds {
		b.tick(domain.ExchangeNSE, "NIFTY 50", domain.Rupees(26000+int64(i%7)))
		b.tick(domain.ExchangeNFO, nifty.symbol, domain.Rupees(26050+int64(i%5)))
		if i%3 == 0 {
			side := domain.Buy
			if i%2 == 1 {
				side = domain.Sell
			}
			b.order(nifty, side, domain.Rupees(26050+int64(i%5)), 2000, int64(1+i%4), 1)
		}
	}
}

func factories() []projections.Factory {
	return []projections.Factory{
		func() projections.Projection { return projections.NewQuotes() },
		func() projections.Projection { return projections.NewPositions(reg) },
	}
}

type running struct {
	r    *projections.Runner
	stop func()
}

func startRunner(t *testing.T, st projections.Log, snaps projections.SnapshotStore, fs ...projections.Factory) running {
	t.Helper()
	if fs == nil {
		fs = factories()
	}
	r, err := projections.NewRunner(st, snaps, projections.RunnerConfig{SnapshotEvery: 10 * time.Millisecond}, fs...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return running{r: r, stop: stop}
}

func waitAll(t *testing.T, r *projections.Runner, pos eventstore.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range r.Names() {
		if err := r.WaitFor(ctx, n, pos); err != nil {
			t.Fatal(err)
		}
	}
}

// checkAgainstReplay asserts that each live projection's hash equals a
// fresh replay's to the same position.
func checkAgainstReplay(t *testing.T, r *projections.Runner, st eventstore.Store, pos eventstore.Position) map[string]string {
	t.Helper()
	hashes := map[string]string{}
	for _, n := range r.Names() {
		live, _ := r.Get(n)
		if live.Position() != pos {
			t.Fatalf("%s at %d, want %d", n, live.Position(), pos)
		}
		replayed, err := r.Replay(context.Background(), n, pos)
		if err != nil {
			t.Fatal(err)
		}
		h1, _ := projections.Hash(live)
		h2, _ := projections.Hash(replayed)
		if h1 != h2 {
			t.Fatalf("%s: live hash %s, replay hash %s", n, h1, h2)
		}
		hashes[n] = h1
	}
	return hashes
}

func TestRunnerSnapshotsRebuildAndReplay(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "data"))
	snaps, err := projections.NewFileSnapshots(filepath.Join(dir, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	b := newLog(t)
	tradingDay(t, b, 300)
	head := appendAll(t, st, b.evs)

	run := startRunner(t, st, snaps)
	waitAll(t, run.r, head)
	checkAgainstReplay(t, run.r, st, head)

	// Live events while running.
	from := len(b.evs)
	tradingDay(t, b, 100)
	head = appendAll(t, st, b.evs[from:])
	waitAll(t, run.r, head)
	before := checkAgainstReplay(t, run.r, st, head)

	// Rebuild equals incremental (ES-16).
	if err := run.r.Rebuild(context.Background(), "positions"); err != nil {
		t.Fatal(err)
	}
	after := checkAgainstReplay(t, run.r, st, head)
	if before["positions"] != after["positions"] {
		t.Fatalf("rebuild changed the hash: %s -> %s", before["positions"], after["positions"])
	}
	sts, err := run.r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sts[1].Name != "positions" || sts[1].LastRebuild.IsZero() || sts[1].Lag != 0 || !sts[1].CaughtUp || sts[1].Hash != before["positions"] {
		t.Fatalf("status after rebuild: %+v", sts[1])
	}
	if err := run.r.Rebuild(context.Background(), "nope"); !errors.Is(err, projections.ErrUnknownProjection) {
		t.Fatalf("rebuild of an unknown projection: %v", err)
	}
	run.stop()

	// Restart from the snapshots, with more events in between: same hashes
	// as a full replay.
	from = len(b.evs)
	tradingDay(t, b, 50)
	head = appendAll(t, st, b.evs[from:])
	run2 := startRunner(t, st, snaps)
	waitAll(t, run2.r, head)
	checkAgainstReplay(t, run2.r, st, head)
	sts, _ = run2.r.Status(context.Background())
	for _, s := range sts {
		if s.RestoredAt == 0 {
			t.Errorf("%s did not restore from its snapshot: %+v", s.Name, s)
		}
	}

	// As of a position: the replay holds exactly the first mid events.
	mid := eventstore.Position(len(b.evs) / 2)
	asOf, err := run2.r.Replay(context.Background(), "positions", mid)
	if err != nil {
		t.Fatal(err)
	}
	direct := projections.NewPositions(reg)
	direct.Apply(b.evs[:mid], mid)
	h1, _ := projections.Hash(asOf)
	h2, _ := projections.Hash(direct)
	if h1 != h2 {
		t.Fatalf("as-of %d: replay hash %s, direct fold %s", mid, h1, h2)
	}
	if _, err := run2.r.Replay(context.Background(), "positions", head+1); !errors.Is(err, projections.ErrBeyondHead) {
		t.Fatalf("replay past the head: %v", err)
	}
	run2.stop()
}

func TestRunnerIgnoresUnusableSnapshots(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "data"))
	snapDir := filepath.Join(dir, "snapshots")
	snaps, _ := projections.NewFileSnapshots(snapDir)
	b := newLog(t)
	tradingDay(t, b, 60)
	head := appendAll(t, st, b.evs)
	run := startRunner(t, st, snaps)
	waitAll(t, run.r, head)
	want := checkAgainstReplay(t, run.r, st, head)
	run.stop()

	restored := func(r *projections.Runner, name string) uint64 {
		sts, err := r.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sts {
			if s.Name == name {
				return s.RestoredAt
			}
		}
		t.Fatalf("no status for %s", name)
		return 0
	}

	// A flipped byte: the checksum fails, the projection rebuilds.
	path := filepath.Join(snapDir, "quotes.snapshot")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-5] ^= 0x40
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := snaps.Load(context.Background(), "quotes"); !errors.Is(err, projections.ErrBadSnapshot) {
		t.Fatalf("corrupt snapshot loads: %v", err)
	}
	run = startRunner(t, st, snaps)
	waitAll(t, run.r, head)
	if got := checkAgainstReplay(t, run.r, st, head); got["quotes"] != want["quotes"] {
		t.Fatalf("quotes after a corrupt snapshot: %s, want %s", got["quotes"], want["quotes"])
	}
	if restored(run.r, "quotes") != 0 || restored(run.r, "positions") == 0 {
		t.Fatal("a corrupt snapshot was used, or a good one was not")
	}
	run.stop()

	// A new code version ignores the old snapshot.
	v2 := func() projections.Projection { return bumped{projections.NewPositions(reg)} }
	run = startRunner(t, st, snaps, v2)
	waitAll(t, run.r, head)
	if restored(run.r, "positions") != 0 {
		t.Fatal("a snapshot of another code version was used")
	}
	run.stop()

	// The same snapshots over another log are not used.
	other := openStore(t, filepath.Join(dir, "other"))
	b2 := newLog(t)
	tradingDay(t, b2, 80)
	head2 := appendAll(t, other, b2.evs)
	run = startRunner(t, other, snaps)
	waitAll(t, run.r, head2)
	checkAgainstReplay(t, run.r, other, head2)
	if restored(run.r, "positions") != 0 {
		t.Fatal("a snapshot of another log was used")
	}
	run.stop()
}

// bumped is a projection whose code version moved on.
type bumped struct{ *projections.Positions }

func (b bumped) Version() int { return b.Positions.Version() + 1 }

func TestNewRunnerRejectsDuplicateNames(t *testing.T) {
	f := func() projections.Projection { return projections.NewQuotes() }
	if _, err := projections.NewRunner(nil, nil, projections.RunnerConfig{}, f, f); err == nil {
		t.Fatal("two projections named quotes accepted")
	}
}

// flakyLog fails every read while down is set.
type flakyLog struct {
	projections.Log
	down atomic.Bool
}

var errDown = errors.New("store unreachable")

func (f *flakyLog) Head(ctx context.Context) (eventstore.Position, error) {
	if f.down.Load() {
		return 0, errDown
	}
	return f.Log.Head(ctx)
}

func (f *flakyLog) ReadAll(ctx context.Context, o eventstore.ReadAllOptions) ([]eventstore.RecordedEvent, error) {
	if f.down.Load() {
		return nil, errDown
	}
	return f.Log.ReadAll(ctx, o)
}

func (f *flakyLog) Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error) {
	if f.down.Load() {
		return nil, errDown
	}
	return f.Log.Subscribe(ctx, from, filter)
}

// A store outage at start neither discards a good snapshot nor overwrites
// it at stop; once the store answers, the snapshot is used.
func TestRunnerKeepsSnapshotThroughOutage(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "data"))
	snapDir := filepath.Join(dir, "snapshots")
	snaps, _ := projections.NewFileSnapshots(snapDir)
	b := newLog(t)
	tradingDay(t, b, 40)
	head := appendAll(t, st, b.evs)
	run := startRunner(t, st, snaps)
	waitAll(t, run.r, head)
	run.stop()
	before, err := os.ReadFile(filepath.Join(snapDir, "positions.snapshot"))
	if err != nil {
		t.Fatal(err)
	}

	flaky := &flakyLog{Log: st}
	flaky.down.Store(true)
	run = startRunner(t, flaky, snaps)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := run.r.Rebuild(ctx, "positions"); err == nil {
		t.Fatal("a rebuild succeeded with the store down")
	}
	run.stop()
	after, err := os.ReadFile(filepath.Join(snapDir, "positions.snapshot"))
	if err != nil || string(after) != string(before) {
		t.Fatalf("the snapshot changed during an outage (err %v)", err)
	}

	flaky2 := &flakyLog{Log: st}
	flaky2.down.Store(true)
	run = startRunner(t, flaky2, snaps)
	time.AfterFunc(200*time.Millisecond, func() { flaky2.down.Store(false) })
	waitAll(t, run.r, head)
	sts, err := run.r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts {
		if s.RestoredAt != uint64(head) {
			t.Errorf("%s: restored at %d after the outage, want %d", s.Name, s.RestoredAt, head)
		}
	}
	run.stop()
	if err := run.r.Rebuild(context.Background(), "positions"); !errors.Is(err, projections.ErrNotRunning) {
		t.Fatalf("rebuild after stop: %v, want ErrNotRunning", err)
	}
}

// Status reports a hash and the position of that same state, even while
// events land; rebuilds during appends lose nothing.
func TestRunnerStatusConsistentUnderLoad(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "data"))
	snaps, _ := projections.NewFileSnapshots(filepath.Join(dir, "snapshots"))
	run := startRunner(t, st, snaps)
	b := newLog(t)
	tradingDay(t, b, 300)
	done := make(chan eventstore.Position, 1)
	go func() { done <- appendAll(t, st, b.evs) }()
	checked := 0
	var head eventstore.Position
	for head == 0 {
		select {
		case head = <-done:
		default:
		}
		sts, err := run.r.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sts {
			if s.Position == 0 {
				continue
			}
			replayed, err := run.r.Replay(context.Background(), s.Name, eventstore.Position(s.Position))
			if err != nil {
				t.Fatal(err)
			}
			if h, _ := projections.Hash(replayed); h != s.Hash {
				t.Fatalf("%s: status hash %s at %d, replay to %d gives %s", s.Name, s.Hash, s.Position, s.Position, h)
			}
			checked++
		}
		if checked%7 == 1 {
			if err := run.r.Rebuild(context.Background(), "positions"); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitAll(t, run.r, head)
	checkAgainstReplay(t, run.r, st, head)
	if checked == 0 {
		t.Fatal("no status checked while appending")
	}
}
