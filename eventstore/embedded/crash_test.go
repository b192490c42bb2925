package embedded_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"

	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/embedded"
)

// payloadFor derives an event's payload from its id, so that a checker can
// tell a stored event is byte-identical to what was appended without having
// seen it, and that nothing torn or foreign is in the log.
func payloadFor(id uuid.UUID) []byte {
	sum := sha256.Sum256(id[:])
	n := int(sum[0]) * 4 // 0-1020 bytes of padding
	return fmt.Appendf(nil, `{"id":"%s","sum":"%s","pad":"%s"}`, id, hex.EncodeToString(sum[:8]), strings.Repeat("p", n))
}

const crashChildEnv = "ALGOAUTO_CRASH_CHILD_DIR"

// TestCrashChildProcess is the writer half of ES-05. It only runs when the
// parent test starts it with ALGOAUTO_CRASH_CHILD_DIR set: 8 writers append
// 1-5 events at a time and print "ack <id> <stream> <version> <position>" for
// each event once Append has returned, until the parent kills the process.
func TestCrashChildProcess(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("helper process for TestKill9Durability (set by the parent test)")
	}
	st, err := embedded.Open(context.Background(), embedded.Config{Dir: dir, MemTableSize: 1 << 20})
	if err != nil {
		fmt.Fprintf(os.Stderr, "child open: %v\n", err)
		os.Exit(3)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	fmt.Fprintln(out, "ready")
	out.Flush()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			stream := fmt.Sprintf("crash-%d", w)
			for i := 0; ; i++ {
				n := 1 + (i+w)%5
				evs := make([]eventstore.EventData, n)
				for j := range evs {
					id := uuid.Must(uuid.NewV7())
					evs[j] = eventstore.EventData{ID: id, Type: "Crash", Data: payloadFor(id)}
				}
				res, err := st.Append(context.Background(), stream, eventstore.Any(), evs...)
				if err != nil {
					fmt.Fprintf(os.Stderr, "child append: %v\n", err)
					os.Exit(4)
				}
				mu.Lock()
				for j, e := range evs {
					back := uint64(n - 1 - j)
					fmt.Fprintf(out, "ack %s %s %d %d\n", e.ID, stream, res.Version-back, uint64(res.Position)-back)
				}
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

type ack struct {
	id       uuid.UUID
	stream   string
	version  uint64
	position eventstore.Position
}

// TestKill9Durability is ES-05: a child process appends from 8 goroutines
// and is killed with SIGKILL at a random moment (sometimes while it is still
// opening the store); then the store must hold every acknowledged event,
// byte-identical, at the acknowledged version and position, with no torn
// event, contiguous versions and dense positions. Cycles accumulate on one
// directory, so recovery after recovery is exercised too.
func TestKill9Durability(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 cycles are skipped with -short")
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 5))
	t.Logf("seed %d (%d cycles)", seed, crashCycles)
	// Cycles accumulate on one directory (recovery after recovery) in runs
	// of 50; then a fresh directory keeps each check's full scan short.
	var dir string
	var acked map[uuid.UUID]ack
	total := 0
	maxAcks := 3000
	if raceEnabled {
		maxAcks = 300
	}
	for cycle := range crashCycles {
		if cycle%50 == 0 {
			total += len(acked)
			dir, acked = t.TempDir(), map[uuid.UUID]ack{}
		}
		killAfterAcks := rng.IntN(maxAcks)
		killEarly := rng.IntN(10) == 0 // kill during open/recovery
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChildProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if killEarly {
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond) // random kill point, not a wait for a condition
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
		sc := bufio.NewScanner(stdout)
		seen := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 5 || f[0] != "ack" {
				continue
			}
			v, _ := strconv.ParseUint(f[3], 10, 64)
			p, _ := strconv.ParseUint(f[4], 10, 64)
			a := ack{id: uuid.MustParse(f[1]), stream: f[2], version: v, position: eventstore.Position(p)}
			acked[a.id] = a
			if seen++; seen >= killAfterAcks {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		for sc.Scan() { // acks printed before the kill landed still count
			f := strings.Fields(sc.Text())
			if len(f) == 5 && f[0] == "ack" {
				v, _ := strconv.ParseUint(f[3], 10, 64)
				p, _ := strconv.ParseUint(f[4], 10, 64)
				acked[uuid.MustParse(f[1])] = ack{id: uuid.MustParse(f[1]), stream: f[2], version: v, position: eventstore.Position(p)}
			}
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("cycle %d: child exited without being killed: %v\n%s", cycle, err, stderr.String())
		}
		checkCrashedStore(t, dir, acked, cycle, cycle%5 == 4 || cycle == crashCycles-1)
	}
	t.Logf("%d acknowledged events survived %d kill -9 cycles", total+len(acked), crashCycles)
}

// checkCrashedStore opens dir and checks the ES-05 invariants.
// verify also runs the full index check (slower).
func checkCrashedStore(t *testing.T, dir string, acked map[uuid.UUID]ack, cycle int, verify bool) {
	t.Helper()
	ctx := context.Background()
	st, err := embedded.Open(ctx, embedded.Config{Dir: dir})
	if err != nil {
		t.Fatalf("cycle %d: reopen after kill -9: %v", cycle, err)
	}
	defer st.Close()
	if verify {
		if err := st.Verify(ctx, nil); err != nil {
			t.Fatalf("cycle %d: verify: %v", cycle, err)
		}
	}
	found := 0
	versions := map[string]uint64{}
	var next eventstore.Position = 1
	err = st.Scan(ctx, 0, eventstore.Filter{}, func(e *eventstore.RecordedEvent) bool {
		if e.Position != next {
			t.Fatalf("cycle %d: position %d where %d was expected (positions must be dense)", cycle, e.Position, next)
		}
		next++
		if v, ok := versions[e.Stream]; ok && e.Version != v+1 || !ok && e.Version != 0 {
			t.Fatalf("cycle %d: %s version %d after %d", cycle, e.Stream, e.Version, v)
		}
		versions[e.Stream] = e.Version
		if !bytes.Equal(e.Data, payloadFor(e.ID)) {
			t.Fatalf("cycle %d: event %s at %d is not byte-identical to what was appended (torn or corrupt)", cycle, e.ID, e.Position)
		}
		if a, ok := acked[e.ID]; ok {
			found++
			if a.stream != e.Stream || a.version != e.Version || a.position != e.Position {
				t.Fatalf("cycle %d: event %s acked as %s@%d pos %d, stored as %s@%d pos %d", cycle, e.ID, a.stream, a.version, a.position, e.Stream, e.Version, e.Position)
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("cycle %d: scan: %v", cycle, err)
	}
	if found != len(acked) {
		t.Fatalf("cycle %d: %d of %d acknowledged events are missing after kill -9", cycle, len(acked)-found, len(acked))
	}
	// ES-04: retrying acknowledged appends after the restart, with the same
	// ids, stores nothing new and answers with the original place.
	head, _ := st.Head(ctx)
	retried := 0
	for id, a := range acked { // map order: a different sample each cycle
		if retried == 25 {
			break
		}
		retried++
		res, err := st.Append(ctx, a.stream, eventstore.NoStream(), eventstore.EventData{ID: id, Type: "Crash", Data: payloadFor(id)})
		if err != nil || !res.Duplicate || res.Position != a.position || res.Version != a.version {
			t.Fatalf("cycle %d: retry of %s after kill -9: %+v %v, want a duplicate at %d", cycle, id, res, err, a.position)
		}
	}
	if h, _ := st.Head(ctx); h != head {
		t.Fatalf("cycle %d: retries after restart moved the head from %d to %d", cycle, head, h)
	}
}

// TestPowerLoss is ES-06 (and ES-10): the store runs on Pebble's crashable
// in-memory filesystem; at a random moment the filesystem is cloned as a
// power cut would leave it (everything synced, plus a random part of what
// was not, torn at block granularity; unsynced directory entries may vanish)
// and the clone is reopened. Every append acknowledged before the cut must
// be there, intact.
func TestPowerLoss(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (%d cycles)", seed, powerLossCycles)
	rng := rand.New(rand.NewPCG(seed, 6))
	fs := vfs.NewCrashableMem()
	var acked []ack
	for cycle := range powerLossCycles {
		st, err := embedded.Open(context.Background(), embedded.Config{Dir: "/db", FS: fs, MemTableSize: 256 << 10})
		if err != nil {
			t.Fatalf("cycle %d: open after power loss: %v", cycle, err)
		}
		checkPowerLoss(t, st, acked, cycle)
		var mu sync.Mutex
		var stop atomic.Bool
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := 0; !stop.Load(); i++ {
					evs := make([]eventstore.EventData, 1+(i+w)%4)
					for j := range evs {
						id := uuid.Must(uuid.NewV7())
						evs[j] = eventstore.EventData{ID: id, Type: "Power", Data: payloadFor(id)}
					}
					res, err := st.Append(context.Background(), fmt.Sprintf("power-%d", w), eventstore.Any(), evs...)
					if err != nil {
						return // the store may be closing after the cut
					}
					mu.Lock()
					for j, e := range evs {
						back := uint64(len(evs) - 1 - j)
						acked = append(acked, ack{id: e.ID, stream: fmt.Sprintf("power-%d", w), version: res.Version - back, position: res.Position - eventstore.Position(back)})
					}
					mu.Unlock()
				}
			})
		}
		// Let some appends land (a random number), then cut the power.
		target := 20 + rng.IntN(400)
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= target || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		mu.Lock()
		durable := len(acked) // acknowledged before the cut began
		mu.Unlock()
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rand.New(rand.NewPCG(rng.Uint64(), 1))})
		stop.Store(true)
		wg.Wait()
		_ = st.Close()
		acked = acked[:durable]
		fs = crashed
	}
	st, err := embedded.Open(context.Background(), embedded.Config{Dir: "/db", FS: fs})
	if err != nil {
		t.Fatalf("final open: %v", err)
	}
	defer st.Close()
	checkPowerLoss(t, st, acked, powerLossCycles)
	t.Logf("%d acknowledged events survived %d power cuts", len(acked), powerLossCycles)
}

func checkPowerLoss(t *testing.T, st *embedded.Store, acked []ack, cycle int) {
	t.Helper()
	ctx := context.Background()
	if err := st.Verify(ctx, nil); err != nil {
		t.Fatalf("cycle %d: verify after power loss: %v", cycle, err)
	}
	want := make(map[uuid.UUID]ack, len(acked))
	for _, a := range acked {
		want[a.id] = a
	}
	found := 0
	err := st.Scan(ctx, 0, eventstore.Filter{}, func(e *eventstore.RecordedEvent) bool {
		if !bytes.Equal(e.Data, payloadFor(e.ID)) {
			t.Fatalf("cycle %d: torn event %s at %d", cycle, e.ID, e.Position)
		}
		if a, ok := want[e.ID]; ok {
			found++
			if a.position != e.Position || a.version != e.Version {
				t.Fatalf("cycle %d: %s acked at %d/%d, stored at %d/%d", cycle, e.ID, a.position, a.version, e.Position, e.Version)
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("cycle %d: scan: %v", cycle, err)
	}
	if found != len(want) {
		t.Fatalf("cycle %d: %d of %d acknowledged events lost in the power cut", cycle, len(want)-found, len(want))
	}
}
