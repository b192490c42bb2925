package embedded

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/google/uuid"

	"github.com/algoauto/algoauto/eventstore"
)

// Key space (one Pebble keyspace, bytewise order):
//
//	'l' pos(8 BE)                      -> chunk: the events of one append
//	's' stream 0x00 firstVersion(8 BE) -> firstPos(8 BE) count(4 BE)
//	'i' id(16)                         -> pos(8 BE)
//
// A chunk holds every event of one Append (one stream), so the global log
// and the stream index cost one key per append, not per event; only the id
// index has a key per event (sequential for UUIDv7 ids).
const (
	prefixLog    = 'l'
	prefixStream = 's'
	prefixID     = 'i'
	prefixMeta   = 'm'
)

// Chunk layout, version 1:
//
//	u8      chunk version (1)
//	u32     CRC-32C (Castagnoli) of everything after this field
//	uvarint stream length, stream bytes
//	uvarint first version
//	i64     recorded_at, Unix nanoseconds (BE)
//	uvarint event count
//	per event: id(16), uvarint type len, type, uvarint data len, data,
//	           uvarint metadata len, metadata
const chunkV1 = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func logKey(pos eventstore.Position) []byte {
	k := make([]byte, 9)
	k[0] = prefixLog
	binary.BigEndian.PutUint64(k[1:], uint64(pos))
	return k
}

func streamPrefix(stream string) []byte {
	k := make([]byte, 0, len(stream)+2+8)
	k = append(k, prefixStream)
	k = append(k, stream...)
	return append(k, 0)
}

func streamKey(stream string, firstVersion uint64) []byte {
	return binary.BigEndian.AppendUint64(streamPrefix(stream), firstVersion)
}

func idKey(id uuid.UUID) [17]byte {
	var k [17]byte
	k[0] = prefixID
	copy(k[1:], id[:])
	return k
}

func chunkSize(stream string, first uint64, events []eventstore.EventData) int {
	n := 1 + 4 + uvarintLen(uint64(len(stream))) + len(stream) + uvarintLen(first) + 8 + uvarintLen(uint64(len(events)))
	for i := range events {
		e := &events[i]
		n += 16 + uvarintLen(uint64(len(e.Type))) + len(e.Type) +
			uvarintLen(uint64(len(e.Data))) + len(e.Data) +
			uvarintLen(uint64(len(e.Metadata))) + len(e.Metadata)
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// encodeChunk writes the chunk into dst, which must be exactly chunkSize long.
func encodeChunk(dst []byte, stream string, first uint64, recordedAt time.Time, events []eventstore.EventData) {
	b := dst[:0]
	b = append(b, chunkV1, 0, 0, 0, 0)
	b = binary.AppendUvarint(b, uint64(len(stream)))
	b = append(b, stream...)
	b = binary.AppendUvarint(b, first)
	b = binary.BigEndian.AppendUint64(b, uint64(recordedAt.UnixNano()))
	b = binary.AppendUvarint(b, uint64(len(events)))
	for i := range events {
		e := &events[i]
		b = append(b, e.ID[:]...)
		b = binary.AppendUvarint(b, uint64(len(e.Type)))
		b = append(b, e.Type...)
		b = binary.AppendUvarint(b, uint64(len(e.Data)))
		b = append(b, e.Data...)
		b = binary.AppendUvarint(b, uint64(len(e.Metadata)))
		b = append(b, e.Metadata...)
	}
	if len(b) != len(dst) {
		panic(fmt.Sprintf("embedded: chunk size %d, computed %d", len(b), len(dst)))
	}
	binary.BigEndian.PutUint32(dst[1:5], crc32.Checksum(dst[5:], castagnoli))
}

// chunkHeader is the decoded fixed part of a chunk.
type chunkHeader struct {
	stream     string
	first      uint64
	recordedAt time.Time
	count      int
	body       []byte // the events
}

type corruptError struct {
	pos    eventstore.Position
	reason string
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("chunk at position %d: %s: %v", e.pos, e.reason, eventstore.ErrCorrupt)
}

func (e *corruptError) Unwrap() error { return eventstore.ErrCorrupt }

// parseChunk verifies the checksum and reads the header. stream, if not
// empty, is reused instead of allocating the stream name again.
func parseChunk(pos eventstore.Position, v []byte, knownStream string) (chunkHeader, error) {
	bad := func(reason string) (chunkHeader, error) {
		return chunkHeader{}, &corruptError{pos: pos, reason: reason}
	}
	if len(v) < 5 || v[0] != chunkV1 {
		return bad("unknown chunk version or short chunk")
	}
	if binary.BigEndian.Uint32(v[1:5]) != crc32.Checksum(v[5:], castagnoli) {
		return bad("checksum mismatch")
	}
	b := v[5:]
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return bad("stream length")
	}
	sb := b[n : n+int(l)]
	b = b[n+int(l):]
	var h chunkHeader
	if knownStream != "" && knownStream == string(sb) {
		h.stream = knownStream
	} else {
		h.stream = string(sb)
	}
	h.first, n = binary.Uvarint(b)
	if n <= 0 {
		return bad("first version")
	}
	b = b[n:]
	if len(b) < 8 {
		return bad("recorded_at")
	}
	h.recordedAt = time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC()
	b = b[8:]
	c, n := binary.Uvarint(b)
	if n <= 0 || c == 0 || c > uint64(len(b)) {
		return bad("event count")
	}
	h.count = int(c)
	h.body = b[n:]
	return h, nil
}

// eventDecoder walks the events of a parsed chunk.
type eventDecoder struct {
	pos      eventstore.Position // position of the chunk's first event
	h        chunkHeader
	b        []byte
	i        int
	lastType string
}

func (d *eventDecoder) reset(pos eventstore.Position, h chunkHeader) {
	d.pos, d.h, d.b, d.i = pos, h, h.body, 0
}

// field reads a uvarint-length-prefixed field at b[i:].
func field(b []byte, i int) ([]byte, int, bool) {
	l, n := binary.Uvarint(b[i:])
	if n <= 0 || l > uint64(len(b)-i-n) {
		return nil, 0, false
	}
	i += n
	return b[i : i+int(l) : i+int(l)], i + int(l), true
}

// next decodes the next event into ev; it returns false at the end.
func (d *eventDecoder) next(ev *eventstore.RecordedEvent) (bool, error) {
	if d.i == d.h.count {
		if len(d.b) != 0 {
			return false, &corruptError{pos: d.pos, reason: "trailing bytes"}
		}
		return false, nil
	}
	b := d.b
	if len(b) < 16 {
		return d.bad("id")
	}
	copy(ev.ID[:], b[:16])
	typ, i, ok := field(b, 16)
	if !ok {
		return d.bad("type")
	}
	if string(typ) != d.lastType {
		d.lastType = string(typ)
	}
	ev.Type = d.lastType
	if ev.Data, i, ok = field(b, i); !ok {
		return d.bad("data")
	}
	if ev.Metadata, i, ok = field(b, i); !ok {
		return d.bad("metadata")
	}
	if len(ev.Metadata) == 0 {
		ev.Metadata = nil
	}
	ev.Stream = d.h.stream
	ev.Version = d.h.first + uint64(d.i)
	ev.Position = d.pos + eventstore.Position(d.i)
	ev.RecordedAt = d.h.recordedAt
	d.b = b[i:]
	d.i++
	return true, nil
}

func (d *eventDecoder) bad(reason string) (bool, error) {
	return false, &corruptError{pos: d.pos, reason: fmt.Sprintf("event %d: %s", d.i, reason)}
}

// skip advances past n events without filling a RecordedEvent.
func (d *eventDecoder) skip(n int) error {
	var ev eventstore.RecordedEvent
	for range n {
		ok, err := d.next(&ev)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
	}
	return nil
}
