package embedded

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/algoauto/algoauto/eventstore"
)

// The acknowledged-position mark.
//
// Pebble recovers its write-ahead log by reading records until the first
// invalid one. It tells a torn tail (a write cut short, never acknowledged)
// from corruption only when a later 32 KiB block of the log proves that
// more was synced; damage inside the last block looks like a torn tail, and
// the acknowledged appends after it would vanish without an error. The mark
// closes that hole: a separate file records, at most markInterval behind, a
// position the store has acknowledged. At open, a log that ends before the
// mark means acknowledged events are missing, and the store refuses to open.
//
// The file has two 24-byte slots (at offsets 0 and 512) written in turn and
// fsynced, each {magic, sequence, position, CRC-32C}, so a write torn by a
// crash damages one slot only and the other still holds the previous mark.
const (
	markFile  = "ACKED"
	markMagic = 0x4b4d4141 // "AAMK"
	slotSize  = 24
	slotAlign = 512
)

type ackMark struct {
	mu   sync.Mutex
	f    vfs.File
	seq  uint64
	last eventstore.Position
}

// openMark opens (creating) the mark file in dir and returns the last valid
// mark (0 when none).
func openMark(fs vfs.FS, dir string) (*ackMark, eventstore.Position, error) {
	name := fs.PathJoin(dir, markFile)
	_, statErr := fs.Stat(name)
	f, err := fs.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, 0, fmt.Errorf("embedded: open %s: %w", markFile, err)
	}
	if statErr != nil && errors.Is(statErr, os.ErrNotExist) {
		// A new file: make its directory entry durable before relying on it.
		if d, err := fs.OpenDir(dir); err == nil {
			_ = d.Sync()
			_ = d.Close()
		}
	}
	m := &ackMark{f: f}
	var buf [slotSize]byte
	for slot := range 2 {
		n, err := f.ReadAt(buf[:], int64(slot*slotAlign))
		if n < slotSize || (err != nil && !errors.Is(err, io.EOF)) {
			continue
		}
		if binary.BigEndian.Uint32(buf[0:4]) != markMagic || binary.BigEndian.Uint32(buf[20:24]) != crc32.Checksum(buf[:20], castagnoli) {
			continue // never written, or torn
		}
		seq := binary.BigEndian.Uint64(buf[4:12])
		if seq >= m.seq {
			m.seq = seq
			m.last = eventstore.Position(binary.BigEndian.Uint64(buf[12:20]))
		}
	}
	return m, m.last, nil
}

// write records pos (if it is ahead of the last mark) and fsyncs it.
func (m *ackMark) write(pos eventstore.Position) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if pos <= m.last {
		return nil
	}
	m.seq++
	var buf [slotSize]byte
	binary.BigEndian.PutUint32(buf[0:4], markMagic)
	binary.BigEndian.PutUint64(buf[4:12], m.seq)
	binary.BigEndian.PutUint64(buf[12:20], uint64(pos))
	binary.BigEndian.PutUint32(buf[20:24], crc32.Checksum(buf[:20], castagnoli))
	if _, err := m.f.WriteAt(buf[:], int64(m.seq%2)*slotAlign); err != nil {
		return fmt.Errorf("embedded: write %s: %w", markFile, err)
	}
	if err := m.f.Sync(); err != nil {
		return fmt.Errorf("embedded: sync %s: %w", markFile, err)
	}
	m.last = pos
	return nil
}

func (m *ackMark) close() error { return m.f.Close() }

// markPath is where the mark of a disk store lives (for error messages).
func markPath(dir string) string { return filepath.Join(dir, markFile) }
