// Package probe holds the raw baseline measurements that AlgoAuto's
// benchmarks run beside the system under test, on the same disk and cores,
// so that results can be reported as ratios on shared, noisy machines
// (PERFORMANCE.md §8-9): appending records with fdatasync, and reading,
// decoding and folding binary ticks from a plain file.
package probe

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// SyncResult is the outcome of a write+fdatasync probe.
type SyncResult struct {
	Records   int
	Elapsed   time.Duration
	PerSecond float64
	// P50 and P99 are the latencies of one write+fdatasync call (the ack
	// latency of a record in the one-record-per-sync case).
	P50, P99 time.Duration
}

// WriteSync appends n records of size bytes to a fresh file in dir, calling
// fdatasync after every `every` records, and reports records per second and
// the latency of each write+sync.
func WriteSync(dir string, n, size, every int) (SyncResult, error) {
	f, err := os.CreateTemp(dir, "probe-*.dat")
	if err != nil {
		return SyncResult{}, fmt.Errorf("probe: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	rec := make([]byte, size*every)
	for i := range rec {
		rec[i] = byte(i)
	}
	lat := make([]time.Duration, 0, n/every+1)
	start := time.Now()
	for done := 0; done < n; done += every {
		k := min(every, n-done)
		t := time.Now()
		if _, err := f.Write(rec[:k*size]); err != nil {
			return SyncResult{}, fmt.Errorf("probe: write: %w", err)
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return SyncResult{}, fmt.Errorf("probe: fdatasync: %w", err)
		}
		lat = append(lat, time.Since(t))
	}
	el := time.Since(start)
	p50, p99 := Percentiles(lat)
	return SyncResult{Records: n, Elapsed: el, PerSecond: float64(n) / el.Seconds(), P50: p50, P99: p99}, nil
}

// Percentiles returns the 50th and 99th percentiles of d (sorted in place).
func Percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	return d[len(d)*50/100], d[min(len(d)-1, len(d)*99/100)]
}

// Fold is the reference fold of replay benchmarks: the last price, traded
// volume and tick count per symbol, and a running checksum of prices, so
// that the decoded values are used.
type Fold struct {
	Last  map[string]domain.Price
	Count int64
	Sum   int64
}

// NewFold returns an empty fold.
func NewFold() *Fold { return &Fold{Last: map[string]domain.Price{}} }

// Apply folds one tick.
func (f *Fold) Apply(t *domain.Tick) {
	f.Last[t.Symbol] = t.LTP
	f.Count++
	f.Sum += int64(t.LTP) + t.Volume
}

// WriteTickFile writes ticks to dir/name as uvarint-length-prefixed binary
// ticks (the store's tick layout), fsynced, and returns the path.
func WriteTickFile(dir, name string, ticks func(yield func(*domain.Tick) bool)) (string, error) {
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("probe: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var buf []byte
	var werr error
	ticks(func(t *domain.Tick) bool {
		buf, werr = codec.AppendTick(buf[:0], t)
		if werr != nil {
			return false
		}
		var l [binary.MaxVarintLen64]byte
		if _, werr = w.Write(l[:binary.PutUvarint(l[:], uint64(len(buf)))]); werr != nil {
			return false
		}
		_, werr = w.Write(buf)
		return werr == nil
	})
	if werr == nil {
		werr = w.Flush()
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return "", fmt.Errorf("probe: write ticks: %w", werr)
	}
	return path, nil
}

// ReadDecodeFold reads a file written by WriteTickFile through a 1 MiB
// buffer, decodes every tick and folds it: the raw replay anchor.
func ReadDecodeFold(path string, fold *Fold) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("probe: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var d codec.TickDecoder
	var t domain.Tick
	buf := make([]byte, 0, 256)
	var n int64
	for {
		l, err := binary.ReadUvarint(r)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("probe: read: %w", err)
		}
		buf = buf[:l]
		if _, err := io.ReadFull(r, buf); err != nil {
			return n, fmt.Errorf("probe: read: %w", err)
		}
		if err := d.Decode(buf, &t); err != nil {
			return n, err
		}
		fold.Apply(&t)
		n++
	}
}
