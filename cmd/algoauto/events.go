package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/projections"
)

func newEventsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Append, read and inspect the event log",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newEventsAppendCmd(g), newEventsReadCmd(g), newEventsStatsCmd(g), newEventsVerifyCmd(g))
	return cmd
}

// ackLine is what `events append` prints for each stored line.
type ackLine struct {
	ID        string `json:"id"`
	Stream    string `json:"stream"`
	Version   uint64 `json:"version"`
	Position  uint64 `json:"position"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

func newEventsAppendCmd(g *globals) *cobra.Command {
	var keepGoing, allowUnknown bool
	cmd := &cobra.Command{
		Use:   "append",
		Short: "Append events read as NDJSON from stdin, printing one ack per line once durable",
		Long: `append reads one event per line from stdin:

  {"id"?: UUID, "stream": S, "type": T, "data": {...}, "metadata"?: {...},
   "expected"?: "any" | "no_stream" | "stream_exists" | N}

Known event types are validated and stored in their canonical form (ticks in
the binary layout). For each line it prints {"id","stream","version","position"}
only after the event is durable. A line without an id gets a new UUIDv7; give
ids to make re-running the same input idempotent. A malformed line prints
"line N: reason" on stderr and stops the command, unless --keep-going.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			a := &appender{st: st, reg: codec.NewRegistry(), out: bufio.NewWriter(g.stdout), errw: g.stderr, keepGoing: keepGoing, allowUnknown: allowUnknown}
			return a.run(cmd.Context(), g.stdin)
		},
	}
	cmd.Flags().BoolVar(&keepGoing, "keep-going", false, "report malformed or refused lines and continue with the next")
	cmd.Flags().BoolVar(&allowUnknown, "allow-unknown-types", false, "store events of types this build does not know, as given (data must be a JSON object)")
	return cmd
}

type appender struct {
	st           eventstore.Store
	reg          *codec.Registry
	out          *bufio.Writer
	errw         io.Writer
	keepGoing    bool
	allowUnknown bool
	failed       int
}

type inputLine struct {
	n    int
	text []byte
	err  error // read error (line too long)
}

type pendingLine struct {
	n    int
	line codec.AppendLine
	ev   eventstore.EventData
}

// run reads lines on a goroutine and appends whatever has arrived as one
// batch: interactive input is acknowledged at once, piped input in bulk.
func (a *appender) run(ctx context.Context, stdin io.Reader) error {
	lines := make(chan inputLine, 4096)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), codec.MaxLineSize)
		n := 0
		for sc.Scan() {
			n++
			select {
			case lines <- inputLine{n: n, text: slices.Clone(sc.Bytes())}:
			case <-ctx.Done():
				return
			}
		}
		if err := sc.Err(); err != nil {
			lines <- inputLine{n: n + 1, err: err}
		}
	}()
	for {
		var batch []inputLine
		select {
		case l, ok := <-lines:
			if !ok {
				return a.finish()
			}
			batch = append(batch, l)
		case <-ctx.Done():
			return ctx.Err()
		}
	drain:
		for len(batch) < 4096 {
			select {
			case l, ok := <-lines:
				if !ok {
					break drain
				}
				batch = append(batch, l)
			default:
				break drain
			}
		}
		if err := a.process(ctx, batch); err != nil {
			_ = a.out.Flush()
			return err
		}
		if err := a.out.Flush(); err != nil {
			return fmt.Errorf("write acks: %w", err)
		}
	}
}

func (a *appender) finish() error {
	if err := a.out.Flush(); err != nil {
		return err
	}
	if a.failed > 0 {
		return fmt.Errorf("%d line(s) were not appended", a.failed)
	}
	return nil
}

// lineErr reports a refused line; it stops the run unless keepGoing.
func (a *appender) lineErr(n int, err error) error {
	_ = a.out.Flush()
	fmt.Fprintf(a.errw, "line %d: %v\n", n, err)
	a.failed++
	if a.keepGoing {
		return nil
	}
	return &exitError{code: 1, err: fmt.Errorf("stopped at line %d (use --keep-going to continue past refused lines)", n)}
}

// process appends a batch of lines in order. Consecutive lines of one
// stream whose later lines name no expected version go in one append.
func (a *appender) process(ctx context.Context, batch []inputLine) error {
	var group []pendingLine
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		g := group
		group = nil
		return a.appendGroup(ctx, g)
	}
	for _, in := range batch {
		if in.err != nil {
			if err := flush(); err != nil {
				return err
			}
			if err := a.lineErr(in.n, in.err); err != nil {
				return err
			}
			continue
		}
		if len(strings.TrimSpace(string(in.text))) == 0 {
			continue // blank lines are allowed
		}
		line, err := codec.ParseAppendLine(in.text)
		if err == nil {
			id := line.ID
			if id == uuid.Nil {
				id = uuid.Must(uuid.NewV7())
			}
			var ev eventstore.EventData
			if ev, err = a.reg.FromJSON(id, line.Type, line.Data, line.Metadata, a.allowUnknown); err == nil {
				p := pendingLine{n: in.n, line: line, ev: ev}
				if len(group) > 0 && (group[0].line.Stream != line.Stream || line.HasExpected || len(group) >= 1000 || dupID(group, id)) {
					if err := flush(); err != nil {
						return err
					}
				}
				group = append(group, p)
				continue
			}
		}
		if err := flush(); err != nil {
			return err
		}
		if err := a.lineErr(in.n, err); err != nil {
			return err
		}
	}
	return flush()
}

func dupID(group []pendingLine, id uuid.UUID) bool {
	for _, p := range group {
		if p.ev.ID == id {
			return true
		}
	}
	return false
}

func (a *appender) appendGroup(ctx context.Context, group []pendingLine) error {
	evs := make([]eventstore.EventData, len(group))
	for i, p := range group {
		evs[i] = p.ev
	}
	res, err := a.st.Append(ctx, group[0].line.Stream, group[0].line.Expected, evs...)
	if err != nil {
		if len(group) > 1 && !errors.Is(err, context.Canceled) {
			// Attribute the failure: nothing was written, so go line by line.
			for i, p := range group {
				if i > 0 {
					p.line.Expected = eventstore.Any()
				}
				if err := a.appendGroup(ctx, []pendingLine{p}); err != nil {
					return err
				}
			}
			return nil
		}
		return a.lineErr(group[0].n, err)
	}
	positions := []eventstore.Position{res.Position}
	if len(group) > 1 {
		// Positions of a multi-event append are read back: only some stores
		// have dense positions.
		first := res.Version - uint64(len(group)-1)
		stored, err := a.st.ReadStream(ctx, group[0].line.Stream, eventstore.ReadStreamOptions{From: first, Count: len(group)})
		if err != nil || len(stored) != len(group) {
			return fmt.Errorf("read back lines %d-%d after appending: %v", group[0].n, group[len(group)-1].n, err)
		}
		positions = positions[:0]
		for i := range stored {
			if stored[i].ID != evs[i].ID {
				return fmt.Errorf("read back line %d: found event %s at its version", group[i].n, stored[i].ID)
			}
			positions = append(positions, stored[i].Position)
		}
	}
	enc := json.NewEncoder(a.out)
	for i, p := range group {
		ack := ackLine{ID: evs[i].ID.String(), Stream: p.line.Stream, Version: res.Version - uint64(len(group)-1-i),
			Position: uint64(positions[i]), Duplicate: res.Duplicate}
		if err := enc.Encode(ack); err != nil {
			return fmt.Errorf("write ack: %w", err)
		}
	}
	return nil
}

func newEventsReadCmd(g *globals) *cobra.Command {
	var from uint64
	var stream, types string
	var limit int
	var follow bool
	cmd := &cobra.Command{
		Use:   "read",
		Short: "Print events as NDJSON envelopes, optionally following new ones",
		Long: `read prints events as NDJSON envelopes:

  {"id","stream","type","version","position","recorded_at","data","metadata"}

--from N prints the events after position N (0, the default, is the
beginning), so the last position you saw resumes without a duplicate.
--stream takes an exact stream name, or a prefix ending in '*'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := eventstore.ParseFilter(stream, types)
			if err != nil {
				return configErr(fmt.Errorf("--stream: %w", err))
			}
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			return readEvents(cmd.Context(), st, codec.NewRegistry(), g.stdout, eventstore.Position(from), filter, limit, follow)
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&from, "from", 0, "print events after this position")
	f.StringVar(&stream, "stream", "", "only this stream (or streams with this prefix, when it ends in '*')")
	f.StringVar(&types, "type", "", "only these event types (comma-separated)")
	f.IntVar(&limit, "limit", 0, "stop after this many events (0 = no limit)")
	f.BoolVar(&follow, "follow", false, "keep printing new events as they are appended (Ctrl-C to stop)")
	return cmd
}

func readEvents(ctx context.Context, st eventstore.Store, reg *codec.Registry, stdout io.Writer, from eventstore.Position, filter eventstore.Filter, limit int, follow bool) error {
	out := bufio.NewWriterSize(stdout, 256<<10)
	defer out.Flush()
	enc := json.NewEncoder(out)
	printed := 0
	emit := func(evs []eventstore.RecordedEvent) (bool, error) {
		for i := range evs {
			env, err := reg.Envelope(&evs[i])
			if err != nil {
				return false, err
			}
			if err := enc.Encode(env); err != nil {
				return false, fmt.Errorf("write: %w", err)
			}
			if printed++; limit > 0 && printed >= limit {
				return false, nil
			}
		}
		return true, out.Flush()
	}
	if !follow {
		after := from
		for {
			page, err := st.ReadAll(ctx, eventstore.ReadAllOptions{After: after, Count: 1000, Filter: filter})
			if err != nil {
				return err
			}
			more, err := emit(page)
			if err != nil || !more || len(page) < 1000 {
				return err
			}
			after = page[len(page)-1].Position
		}
	}
	sub, err := st.Subscribe(ctx, from, filter)
	if err != nil {
		return err
	}
	defer sub.Close()
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // Ctrl-C ends --follow normally
			}
			return err
		}
		more, err := emit(m.Events)
		if err != nil || !more {
			return err
		}
	}
}

// diskUser is implemented by stores that can report their size.
type diskUser interface {
	DiskUsage(ctx context.Context) (int64, error)
}

// statsReport is the log summary plus what only the store knows.
type statsReport struct {
	Head      uint64 `json:"head"`
	DiskBytes int64  `json:"disk_bytes,omitempty"`
	*projections.LogStats
}

func newEventsStatsCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Count events per type and stream category; show head position and size on disk",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			rep, err := collectStats(cmd.Context(), st.Store, g.stderr)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printStats(g.stdout, rep)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func collectStats(ctx context.Context, st eventstore.Store, progress io.Writer) (statsReport, error) {
	rep := statsReport{LogStats: projections.NewLogStats()}
	head, err := st.Head(ctx)
	if err != nil {
		return rep, err
	}
	rep.Head = uint64(head)
	var after eventstore.Position
	lastReport := time.Now()
	for {
		page, err := st.ReadAll(ctx, eventstore.ReadAllOptions{After: after, Count: 10000})
		if err != nil {
			return rep, err
		}
		for i := range page {
			rep.Apply(&page[i])
		}
		if len(page) < 10000 {
			break
		}
		after = page[len(page)-1].Position
		if time.Since(lastReport) > 2*time.Second {
			fmt.Fprintf(progress, "stats: %d events read, at position %d of %d\n", rep.Events, after, head)
			lastReport = time.Now()
		}
	}
	if du, ok := st.(diskUser); ok {
		if n, err := du.DiskUsage(ctx); err == nil {
			rep.DiskBytes = n
		}
	}
	return rep, nil
}

func printStats(w io.Writer, rep statsReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "head position\t%d\n", rep.Head)
	fmt.Fprintf(tw, "events\t%d\n", rep.Events)
	fmt.Fprintf(tw, "streams\t%d\n", rep.Streams)
	fmt.Fprintf(tw, "payload bytes\t%d\n", rep.PayloadBytes)
	if rep.DiskBytes > 0 {
		fmt.Fprintf(tw, "size on disk\t%d bytes (%.1f MiB)\n", rep.DiskBytes, float64(rep.DiskBytes)/(1<<20))
	}
	if !rep.FirstRecorded.IsZero() {
		fmt.Fprintf(tw, "recorded\t%s .. %s\n", rep.FirstRecorded.Format(time.RFC3339), rep.LastRecorded.Format(time.RFC3339))
	}
	printCounts(tw, "by type", rep.ByType)
	printCounts(tw, "by stream category", rep.ByCategory)
	tw.Flush()
}

func printCounts(w io.Writer, title string, m map[string]int64) {
	fmt.Fprintf(w, "\n%s\t\n", title)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s\t%d\n", k, m[k])
	}
}

// verifier is implemented by stores that can check their own integrity.
type verifier interface {
	Verify(ctx context.Context, progress func(eventstore.Position)) error
}

func newEventsVerifyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Check every stored event's checksum and index entries (embedded store)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			v, ok := st.Store.(verifier)
			if !ok {
				return configErr(fmt.Errorf("verify is supported by the embedded store only (this is %s)", st.kind))
			}
			head, _ := st.Head(cmd.Context())
			start := time.Now()
			err = v.Verify(cmd.Context(), func(p eventstore.Position) {
				fmt.Fprintf(g.stderr, "verify: %d of %d events checked\n", p, head)
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "ok: %d events verified in %s\n", head, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
}
