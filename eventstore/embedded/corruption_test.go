package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/embedded"
)

// What the embedded store guarantees about damaged files (ES-07), as these
// tests check:
//   - A torn tail of the write-ahead log (a write cut short by a crash, so
//     never acknowledged) is dropped at open; every complete append before it
//     is served and appends continue at the next position.
//   - Damage to the log before its tail (a flipped bit, a zeroed 4 KiB block)
//     makes Open fail with an error wrapping eventstore.ErrCorrupt: the store
//     refuses to start rather than silently dropping the appends after it.
//   - Damage to a table file is found when its block is read (Pebble checks a
//     checksum per block, and each append carries its own CRC): reads and
//     Verify fail with eventstore.ErrCorrupt and never return altered events.

// appendOneByOne appends n small events, one per append (one WAL record
// each), and returns the WAL size after each.
func appendOneByOne(t *testing.T, st *embedded.Store, dir string, n int) []int64 {
	t.Helper()
	sizes := make([]int64, 0, n)
	for i := range n {
		id := uuid.Must(uuid.NewV7())
		if _, err := st.Append(context.Background(), "torn", eventstore.Any(), eventstore.EventData{ID: id, Type: "E", Data: fmt.Appendf(nil, `{"i":%d,"pad":"%s"}`, i, strings.Repeat("x", 400))}); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		sizes = append(sizes, walSize(t, dir))
	}
	return sizes
}

// walFile returns the newest WAL file of dir (the one being written).
func walFile(t *testing.T, dir string) string {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(logs) == 0 {
		t.Fatalf("no WAL file in %s", dir)
	}
	slices.Sort(logs)
	return logs[len(logs)-1]
}

func walSize(t *testing.T, dir string) int64 {
	fi, err := os.Stat(walFile(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o750); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
}

func damage(t *testing.T, path string, fn func(b []byte)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fn(b)
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestTornWALTail truncates the log at every byte offset of its last record.
func TestTornWALTail(t *testing.T) {
	live := t.TempDir()
	st := MustOpen(t, live)
	const n = 20
	sizes := appendOneByOne(t, st, live, n)
	// The store is still open: the copy is what a crash would leave.
	tmpl := filepath.Join(t.TempDir(), "tmpl")
	copyDir(t, live, tmpl)
	for off := sizes[n-2]; off < sizes[n-1]; off++ {
		t.Run(fmt.Sprint(off), func(t *testing.T) {
			t.Parallel()
			checkTornAt(t, tmpl, off, n)
		})
	}
}

func checkTornAt(t *testing.T, tmpl string, off int64, n int) {
	{
		dir := filepath.Join(t.TempDir(), fmt.Sprint(off))
		copyDir(t, tmpl, dir)
		if err := os.Truncate(walFile(t, dir), off); err != nil {
			t.Fatal(err)
		}
		s, err := embedded.Open(context.Background(), embedded.Config{Dir: dir})
		if err != nil {
			t.Fatalf("truncated at %d: open: %v", off, err)
		}
		if h, _ := s.Head(context.Background()); h != eventstore.Position(n-1) {
			t.Fatalf("truncated at %d: head %d, want %d (the torn append dropped, the rest kept)", off, h, n-1)
		}
		if err := s.Verify(context.Background(), nil); err != nil {
			t.Fatalf("truncated at %d: verify: %v", off, err)
		}
		res, err := s.Append(context.Background(), "torn", eventstore.Exact(uint64(n-2)), eventstore.EventData{ID: uuid.Must(uuid.NewV7()), Type: "E", Data: []byte(`{}`)})
		if err != nil || res.Position != eventstore.Position(n) {
			t.Fatalf("truncated at %d: append after recovery: %+v %v", off, res, err)
		}
		_ = s.Close()
	}
}

// TestWALDamageBeforeTail flips a bit in, or zeroes a 4 KiB block of, the
// log before its last record: Open must refuse with ErrCorrupt.
func TestWALDamageBeforeTail(t *testing.T) {
	live := t.TempDir()
	st := MustOpen(t, live)
	sizes := appendOneByOne(t, st, live, 100) // ~13 KiB of log: one 32 KiB WAL block
	if err := st.WriteMark(); err != nil {
		t.Fatal(err)
	}
	tmpl := filepath.Join(t.TempDir(), "tmpl")
	copyDir(t, live, tmpl)
	cases := []struct {
		name string
		fn   func(b []byte)
	}{
		{"bit flip in record 10", func(b []byte) { b[sizes[9]+40] ^= 0x10 }},
		{"bit flip in record 50", func(b []byte) { b[sizes[49]+70] ^= 0x01 }},
		{"zeroed 4 KiB block", func(b []byte) { clear(b[4096:8192]) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, tmpl, dir)
			damage(t, walFile(t, dir), c.fn)
			s, err := embedded.Open(context.Background(), embedded.Config{Dir: dir})
			if err == nil {
				s.Close()
				t.Fatal("opened a store whose log is damaged before its tail; later appends would be lost silently")
			}
			if !errors.Is(err, eventstore.ErrCorrupt) {
				t.Fatalf("open: %v, want an error wrapping ErrCorrupt", err)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// TestWALDamageDetectedByPebble damages the first of several 32 KiB blocks
// of the log, with the mark removed: Pebble's own read-ahead (its WAL sync
// offsets) must find the corruption.
func TestWALDamageDetectedByPebble(t *testing.T) {
	dir := t.TempDir()
	st, err := embedded.Open(context.Background(), embedded.Config{Dir: dir}) // 64 MiB memtable: one WAL
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// ~150 KiB of log, five blocks, all in the first memtable (Pebble starts
	// with a 256 KiB memtable and grows it), so one WAL file.
	sizes := appendOneByOne(t, st, dir, 250)
	if sizes[len(sizes)-1] < 3*32<<10 {
		t.Fatalf("log is only %d bytes", sizes[len(sizes)-1])
	}
	copyDir(t, dir, filepath.Join(dir+"-copy"))
	t.Cleanup(func() { os.RemoveAll(dir + "-copy") })
	if err := os.Remove(filepath.Join(dir+"-copy", "ACKED")); err != nil {
		t.Fatal(err)
	}
	damage(t, walFile(t, dir+"-copy"), func(b []byte) { b[sizes[20]+50] ^= 0x02 })
	s, err := embedded.Open(context.Background(), embedded.Config{Dir: dir + "-copy"})
	if err == nil {
		s.Close()
		t.Fatal("opened a log damaged in its first block")
	}
	if !errors.Is(err, eventstore.ErrCorrupt) {
		t.Fatalf("open: %v, want ErrCorrupt", err)
	}
}

// TestTableDamage corrupts the first (older) of two table files: a bit flip
// in a data block, and a zeroed 4 KiB block.
func TestTableDamage(t *testing.T) {
	cases := []struct {
		name string
		fn   func(b []byte)
		// everywhere: the damage spans the file, so reading the log must hit it
		everywhere bool
	}{
		{"bit flip", func(b []byte) { b[1000] ^= 0x04 }, false},
		{"zeroed 4 KiB block", func(b []byte) { clear(b[4096:8192]) }, false},
		{"bit flips every 8 KiB", func(b []byte) {
			for i := 512; i < len(b)-4096; i += 8192 {
				b[i] ^= 0x40
			}
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := embedded.Open(context.Background(), embedded.Config{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			var want []eventstore.EventData
			for round := range 3 {
				for i := range 300 {
					evs := make([]eventstore.EventData, 10)
					for j := range evs {
						id := uuid.Must(uuid.NewV7())
						evs[j] = eventstore.EventData{ID: id, Type: "E", Data: payloadFor(id)}
					}
					if _, err := st.Append(context.Background(), fmt.Sprintf("t-%d", i%7), eventstore.Any(), evs...); err != nil {
						t.Fatal(err)
					}
					want = append(want, evs...)
				}
				if err := st.Flush(); err != nil {
					t.Fatalf("flush %d: %v", round, err)
				}
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
			slices.Sort(tables)
			if len(tables) < 2 {
				t.Fatalf("want at least two table files, found %v", tables)
			}
			damage(t, tables[0], c.fn)

			s, err := embedded.Open(context.Background(), embedded.Config{Dir: dir})
			if err != nil {
				if !errors.Is(err, eventstore.ErrCorrupt) {
					t.Fatalf("open: %v, want ErrCorrupt if it refuses", err)
				}
				return // refusing to open is an accepted outcome
			}
			defer s.Close()
			if err := s.Verify(context.Background(), nil); !errors.Is(err, eventstore.ErrCorrupt) {
				t.Fatalf("verify of a damaged table: %v, want ErrCorrupt", err)
			}
			// Reads never serve altered events: every event returned before
			// the error is exactly what was appended.
			byID := map[uuid.UUID][]byte{}
			for _, e := range want {
				byID[e.ID] = e.Data
			}
			var after eventstore.Position
			var readErr error
			for readErr == nil {
				var page []eventstore.RecordedEvent
				page, readErr = s.ReadAll(context.Background(), eventstore.ReadAllOptions{After: after, Count: 500})
				for _, e := range page {
					if d, ok := byID[e.ID]; !ok || string(d) != string(e.Data) {
						t.Fatalf("read served an altered event at %d", e.Position)
					}
				}
				if readErr == nil && len(page) < 500 {
					if c.everywhere {
						t.Fatal("read the whole log through damage spread over its table without an error")
					}
					return // this damage was outside the log's blocks; Verify found it
				}
				if len(page) > 0 {
					after = page[len(page)-1].Position
				}
			}
			if !errors.Is(readErr, eventstore.ErrCorrupt) {
				t.Fatalf("read of a damaged table: %v, want ErrCorrupt", readErr)
			}
		})
	}
}
