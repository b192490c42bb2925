// Package postgres is the PostgreSQL event store (pgx v5).
//
// # Ordering without skips
//
// Sequence-based positions are unsafe for readers: transactions commit out
// of sequence order, so a reader that remembers "the last position seen"
// can skip a slower transaction's rows (RELIABILITY.md §1.3). This store
// avoids the problem instead of detecting it: every append runs the
// append_events function, which first takes a transaction-scoped advisory
// lock on the store's key, reads the last position (max of the primary key),
// inserts its events at the next positions and commits. The lock is held
// until commit, and PostgreSQL makes a transaction visible before it
// releases its locks, so:
//
//   - positions are assigned in commit order: no transaction can take a
//     position until the one before it has committed or rolled back;
//   - a rolled-back append leaves nothing behind, so positions are dense (no
//     holes) and the next append reuses them;
//   - a reader that sees position P sees every position below P.
//
// Subscriptions therefore read WHERE position > checkpoint with no
// watermark, and an unrelated long-running transaction delays nothing. The
// price is that appends are serialised (each holds the lock for one short
// statement plus its commit), which bounds throughput by commit latency;
// batching amortises it. ES-13 tests the claim with 32 writers that sleep
// before committing or roll back.
//
// The unique indexes on (stream, version) and on id back the version and
// idempotency checks durably. Migrations are embedded and applied at Open
// under an advisory lock. LISTEN/NOTIFY wakes subscribers; they also poll
// once a second in case a notification is lost.
package postgres

import (
	"context"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/algoauto/algoauto/eventstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures a PostgreSQL store.
type Config struct {
	// URL is a postgres:// connection string.
	URL string
	// Schema holds the store's tables; default "algoauto". Several stores
	// can share a database under different schemas.
	Schema string
	// Logger; nil discards.
	Logger *slog.Logger
	// MaxConns caps the pool; default 8.
	MaxConns int32
	// Subscription tunes subscriptions (page size, poll interval).
	Subscription eventstore.CatchUpConfig

	// beforeCommit, when set (tests only), runs append_events inside an
	// explicit transaction and calls the hook before COMMIT; a hook error
	// rolls the append back.
	beforeCommit func(ctx context.Context, tx pgx.Tx) error
}

var schemaRe = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Store is the PostgreSQL event store.
type Store struct {
	pool    *pgxpool.Pool
	cfg     Config
	log     *slog.Logger
	schema  string // quoted identifier
	channel string
	signal  eventstore.HeadSignal

	q struct {
		readAll, readStreamFwd, readStreamBack, streamExists, head, recordedAt string
	}

	cancel   context.CancelFunc
	listenWG sync.WaitGroup
	mu       sync.RWMutex
	closed   bool
}

var _ eventstore.Store = (*Store)(nil)

// Open connects, applies migrations and starts the notification listener.
// A malformed URL or an unreachable server returns an error at once (the
// latter wrapping eventstore.ErrUnavailable).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Schema == "" {
		cfg.Schema = "algoauto"
	}
	if !schemaRe.MatchString(cfg.Schema) {
		return nil, fmt.Errorf("postgres: schema %q: want lower-case letters, digits and _", cfg.Schema)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 8
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: invalid URL: %s", redact(err.Error()))
	}
	pcfg.MaxConns = cfg.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", redact(err.Error()), eventstore.ErrUnavailable)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot reach %s:%d: %s: %w", pcfg.ConnConfig.Host, pcfg.ConnConfig.Port, redact(err.Error()), eventstore.ErrUnavailable)
	}
	s := &Store{pool: pool, cfg: cfg, log: cfg.Logger,
		schema: pgx.Identifier{cfg.Schema}.Sanitize(), channel: cfg.Schema + "_events"}
	cols := "position, id, stream, version, type, data, metadata, recorded_at"
	s.q.readAll = "SELECT " + cols + " FROM " + s.schema + ".events WHERE position > $1"
	s.q.readStreamFwd = "SELECT " + cols + " FROM " + s.schema + ".events WHERE stream = $1 AND version >= $2 ORDER BY version LIMIT $3"
	s.q.readStreamBack = "SELECT " + cols + " FROM " + s.schema + ".events WHERE stream = $1 AND version <= $2 ORDER BY version DESC LIMIT $3"
	s.q.streamExists = "SELECT EXISTS (SELECT 1 FROM " + s.schema + ".events WHERE stream = $1)"
	s.q.head = "SELECT coalesce(max(position), 0) FROM " + s.schema + ".events"
	s.q.recordedAt = "SELECT recorded_at FROM " + s.schema + ".events WHERE position = $1"
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.listenWG.Add(1)
	go s.listen(lctx, pcfg.ConnConfig)
	return s, nil
}

// quoteLiteral quotes a schema name (already restricted to [a-z0-9_]) as an
// SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// redact removes passwords from driver messages.
func redact(msg string) string {
	return regexp.MustCompile(`(://[^:/@\s]*:)[^@\s]*@`).ReplaceAllString(msg, "${1}xxxxx@")
}

func (s *Store) migrate(ctx context.Context) error {
	files, err := migrations.ReadDir("migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name() < files[j].Name() })
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit this is a no-op
	// One migrator at a time per schema, across processes.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "algoauto-migrate-"+s.cfg.Schema); err != nil {
		return fmt.Errorf("postgres: migrate lock: %w", err)
	}
	if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+s.schema); err != nil {
		return fmt.Errorf("postgres: create schema: %w", err)
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+s.schema+".schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"); err != nil {
		return fmt.Errorf("postgres: migrations table: %w", err)
	}
	for _, f := range files {
		v, err := strconv.Atoi(strings.SplitN(f.Name(), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("postgres: migration %s: bad name", f.Name())
		}
		var done bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+s.schema+".schema_migrations WHERE version = $1)", v).Scan(&done); err != nil {
			return fmt.Errorf("postgres: migration %d: %w", v, err)
		}
		if done {
			continue
		}
		body, _ := migrations.ReadFile("migrations/" + f.Name())
		sql := strings.NewReplacer("{{schema}}", s.schema, "{{channel}}", s.channel,
			"{{lockkey}}", fmt.Sprintf("hashtext('algoauto'), hashtext(%s)", quoteLiteral(s.cfg.Schema))).Replace(string(body))
		if _, err := tx.Exec(ctx, sql); err != nil {
			return fmt.Errorf("postgres: apply migration %s: %w", f.Name(), err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+s.schema+".schema_migrations (version) VALUES ($1)", v); err != nil {
			return fmt.Errorf("postgres: record migration %d: %w", v, err)
		}
		s.log.Info("applied migration", "schema", s.cfg.Schema, "migration", f.Name())
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: migrate commit: %w", err)
	}
	return nil
}

// listen keeps a LISTEN connection open and wakes subscribers on each
// notification; after a reconnect it wakes them too, since notifications
// sent meanwhile are lost.
func (s *Store) listen(ctx context.Context, cc *pgx.ConnConfig) {
	defer s.listenWG.Done()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, cc)
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize())
		}
		if err == nil {
			backoff = 100 * time.Millisecond
			s.signal.Notify()
			for {
				if _, err = conn.WaitForNotification(ctx); err != nil {
					break
				}
				s.signal.Notify()
			}
		}
		if conn != nil {
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = conn.Close(closeCtx)
			cancel()
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("postgres listener reconnecting", "err", err, "backoff", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Store) acquire() (func(), error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, eventstore.ErrClosed
	}
	return s.mu.RUnlock, nil
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	release, err := s.acquire()
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: %w", stream, err)
	}
	defer release()
	kind, exp := 0, int64(0)
	switch {
	case expected.IsNoStream():
		kind = 1
	case expected.IsStreamExists():
		kind = 2
	default:
		if v, ok := expected.ExactVersion(); ok {
			kind, exp = 3, int64(v)
		}
	}
	ids := make([][16]byte, len(events))
	types := make([]string, len(events))
	data := make([][]byte, len(events))
	mds := make([][]byte, len(events))
	for i := range events {
		ids[i] = events[i].ID
		types[i] = events[i].Type
		data[i] = events[i].Data
		if data[i] == nil {
			data[i] = []byte{}
		}
		mds[i] = events[i].Metadata
	}
	sql := "SELECT r_version, r_position, r_duplicate FROM " + s.schema + ".append_events($1, $2, $3, $4, $5, $6, $7)"
	args := []any{stream, kind, exp, ids, types, data, mds}
	var ver, pos int64
	var dup bool
	if s.cfg.beforeCommit == nil {
		err = s.pool.QueryRow(ctx, sql, args...).Scan(&ver, &pos, &dup)
	} else {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, sql, args...).Scan(&ver, &pos, &dup); err != nil {
				return err
			}
			return s.cfg.beforeCommit(ctx, tx)
		})
	}
	if err != nil {
		return eventstore.AppendResult{}, s.mapAppendErr(stream, expected, err)
	}
	res := eventstore.AppendResult{Version: uint64(ver), Position: eventstore.Position(pos), Duplicate: dup}
	if ver < 0 {
		res.Version = eventstore.NoVersion
	}
	return res, nil
}

func (s *Store) mapAppendErr(stream string, expected eventstore.ExpectedVersion, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "AL001":
			actual := eventstore.NoVersion
			if v, perr := strconv.ParseInt(pe.Detail, 10, 64); perr == nil && v >= 0 {
				actual = uint64(v)
			}
			return &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: actual}
		case "AL002":
			return fmt.Errorf("append to %q: %w", stream, eventstore.ErrDuplicateEventID)
		case "AL003":
			return fmt.Errorf("append to %q: %s: %w", stream, pe.Message, eventstore.ErrPartialDuplicate)
		case "23505": // a unique index caught what the function did not
			if pe.ConstraintName == "events_id" {
				return fmt.Errorf("append to %q: %w", stream, eventstore.ErrDuplicateEventID)
			}
			return &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: eventstore.NoVersion}
		}
	}
	if pgconn.SafeToRetry(err) || errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("append to %q: %v: %w", stream, err, eventstore.ErrUnavailable)
	}
	return fmt.Errorf("append to %q: %w", stream, err)
}

// pgEpoch is the zero of PostgreSQL's binary timestamptz (microseconds).
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// rowDecoder decodes rows of (position, id, stream, version, type, data,
// metadata, recorded_at). Binary-format rows are decoded straight from the
// wire values (replay is decode-bound): stream and type strings are interned
// and each row's data and metadata share one allocation.
type rowDecoder struct {
	binary bool
	strs   map[string]string
}

func newRowDecoder(rows pgx.Rows) *rowDecoder {
	d := &rowDecoder{binary: true, strs: map[string]string{}}
	for _, fd := range rows.FieldDescriptions() {
		if fd.Format != pgx.BinaryFormatCode {
			d.binary = false
		}
	}
	return d
}

func (d *rowDecoder) intern(b []byte) string {
	if v, ok := d.strs[string(b)]; ok {
		return v
	}
	if len(d.strs) > 1<<14 {
		clear(d.strs)
	}
	v := string(b)
	d.strs[v] = v
	return v
}

func (d *rowDecoder) decode(rows pgx.Rows, e *eventstore.RecordedEvent) error {
	*e = eventstore.RecordedEvent{}
	if !d.binary {
		var pos, ver int64
		var id [16]byte
		if err := rows.Scan(&pos, &id, &e.Stream, &ver, &e.Type, &e.Data, &e.Metadata, &e.RecordedAt); err != nil {
			return err
		}
		e.ID = uuid.UUID(id)
		e.Position = eventstore.Position(pos)
		e.Version = uint64(ver)
		e.RecordedAt = e.RecordedAt.UTC()
		if len(e.Metadata) == 0 {
			e.Metadata = nil
		}
		return nil
	}
	v := rows.RawValues()
	if len(v) != 8 || len(v[0]) != 8 || len(v[1]) != 16 || len(v[3]) != 8 || len(v[7]) != 8 {
		return errors.New("unexpected row shape")
	}
	e.Position = eventstore.Position(binary.BigEndian.Uint64(v[0]))
	copy(e.ID[:], v[1])
	e.Stream = d.intern(v[2])
	e.Version = binary.BigEndian.Uint64(v[3])
	e.Type = d.intern(v[4])
	buf := make([]byte, len(v[5])+len(v[6]))
	n := copy(buf, v[5])
	copy(buf[n:], v[6])
	e.Data = buf[:n:n]
	if len(v[6]) > 0 {
		e.Metadata = buf[n:]
	}
	e.RecordedAt = pgEpoch.Add(time.Duration(int64(binary.BigEndian.Uint64(v[7]))) * time.Microsecond)
	return nil
}

func scanEvents(rows pgx.Rows, capHint int) ([]eventstore.RecordedEvent, error) {
	defer rows.Close()
	out := make([]eventstore.RecordedEvent, 0, min(capHint, 1024))
	d := newRowDecoder(rows)
	for rows.Next() {
		out = append(out, eventstore.RecordedEvent{})
		if err := d.decode(rows, &out[len(out)-1]); err != nil {
			return nil, err
		}
	}
	return out, rows.Err()
}

// readAllQuery builds the SELECT of events after `after` matching f, in
// position order, with a LIMIT when count > 0.
func (s *Store) readAllQuery(after eventstore.Position, f eventstore.Filter, count int) (string, []any) {
	q := s.q.readAll
	args := []any{int64(after)}
	if f.Stream != "" {
		args = append(args, f.Stream)
		q += fmt.Sprintf(" AND stream = $%d", len(args))
	}
	if f.StreamPrefix != "" {
		args = append(args, f.StreamPrefix)
		q += fmt.Sprintf(" AND starts_with(stream, $%d)", len(args))
	}
	if len(f.Types) > 0 {
		args = append(args, f.Types)
		q += fmt.Sprintf(" AND type = ANY($%d)", len(args))
	}
	q += " ORDER BY position"
	if count > 0 {
		args = append(args, count)
		q += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	return q, args
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) ([]eventstore.RecordedEvent, error) {
	release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	count := eventstore.ClampCount(opts.Count)
	q, args := s.readAllQuery(opts.After, opts.Filter, count)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read all after %d: %w", opts.After, err)
	}
	evs, err := scanEvents(rows, count)
	if err != nil {
		return nil, fmt.Errorf("read all after %d: %w", opts.After, err)
	}
	return evs, nil
}

// Scan streams every event after `after` matching filter to fn, in order,
// through one query (no paging round trips), until fn returns false or the
// log as of the query's start ends: the replay path. Each event's Data and
// Metadata are its own allocation and may be retained.
func (s *Store) Scan(ctx context.Context, after eventstore.Position, filter eventstore.Filter, fn func(*eventstore.RecordedEvent) bool) error {
	release, err := s.acquire()
	if err != nil {
		return err
	}
	defer release()
	q, args := s.readAllQuery(after, filter, 0)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("scan after %d: %w", after, err)
	}
	defer rows.Close()
	d := newRowDecoder(rows)
	var e eventstore.RecordedEvent
	for rows.Next() {
		if err := d.decode(rows, &e); err != nil {
			return fmt.Errorf("scan after %d: %w", after, err)
		}
		if !fn(&e) {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan after %d: %w", after, err)
	}
	return nil
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	if err := eventstore.ValidateStream(stream); err != nil {
		return nil, err
	}
	release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	count := eventstore.ClampCount(opts.Count)
	var rows pgx.Rows
	if opts.Direction == eventstore.Backwards {
		from := int64(1<<63 - 1)
		if !opts.FromEnd && opts.From < uint64(from) {
			from = int64(opts.From)
		}
		rows, err = s.pool.Query(ctx, s.q.readStreamBack, stream, from, count)
	} else {
		from := int64(opts.From)
		if opts.From > 1<<62 {
			from = 1 << 62
		}
		rows, err = s.pool.Query(ctx, s.q.readStreamFwd, stream, from, count)
	}
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", stream, err)
	}
	evs, err := scanEvents(rows, count)
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", stream, err)
	}
	if len(evs) == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, s.q.streamExists, stream).Scan(&exists); err != nil {
			return nil, fmt.Errorf("read %q: %w", stream, err)
		}
		if !exists {
			return nil, fmt.Errorf("read %q: %w", stream, eventstore.ErrStreamNotFound)
		}
	}
	return evs, nil
}

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	release, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer release()
	var h int64
	if err := s.pool.QueryRow(ctx, s.q.head).Scan(&h); err != nil {
		return 0, fmt.Errorf("head: %w", err)
	}
	return eventstore.Position(h), nil
}

// PositionAt implements eventstore.Store by binary search on the dense,
// time-ordered positions (RecordedAt never decreases along the log).
func (s *Store) PositionAt(ctx context.Context, t time.Time) (eventstore.Position, bool, error) {
	head, err := s.Head(ctx)
	if err != nil {
		return 0, false, err
	}
	release, err := s.acquire()
	if err != nil {
		return 0, false, err
	}
	defer release()
	return eventstore.SearchPosition(ctx, head, t, func(ctx context.Context, p eventstore.Position) (time.Time, error) {
		var rec time.Time
		if err := s.pool.QueryRow(ctx, s.q.recordedAt, int64(p)).Scan(&rec); err != nil {
			return time.Time{}, fmt.Errorf("position at %v: %w", t, err)
		}
		return rec, nil
	})
}

// Subscribe implements eventstore.Store.
func (s *Store) Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error) {
	release, err := s.acquire()
	if err != nil {
		return nil, err
	}
	release()
	return eventstore.NewCatchUp(ctx, s, &s.signal, from, filter, s.cfg.Subscription), nil
}

// DiskUsage reports the bytes of the events table with its indexes.
func (s *Store) DiskUsage(ctx context.Context) (int64, error) {
	release, err := s.acquire()
	if err != nil {
		return 0, err
	}
	defer release()
	var n int64
	err = s.pool.QueryRow(ctx, "SELECT pg_total_relation_size($1::regclass)", s.schema+".events").Scan(&n)
	return n, err
}

// Close implements eventstore.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.listenWG.Wait()
	s.signal.Notify()
	s.pool.Close()
	return nil
}
