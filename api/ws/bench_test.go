package ws_test

// Benchmarks W1-W5 of PERFORMANCE.md §9: WebSocket fan-out throughput,
// latency, slow-consumer isolation and idle memory, each beside its raw TCP
// probe (internal/probe) in the same run. Small sizes by default; the
// full-size commands are in BENCHMARKS.md and .ci/bench.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/algoauto/algoauto/adapters/bus"
	"github.com/algoauto/algoauto/api/ws"
	"github.com/algoauto/algoauto/internal/probe"
)

var (
	w1Clients = flag.Int("w1.clients", 200, "BenchmarkW1Fanout: WebSocket clients (full size 1000)")
	w1Updates = flag.Int("w1.updates", 500, "BenchmarkW1Fanout: updates dispatched to the room (full size 1000)")
	w2Clients = flag.Int("w2.clients", 100, "BenchmarkW2Latency: clients at 100 updates/s (full size 100)")
	w3Clients = flag.Int("w3.clients", 200, "BenchmarkW3Latency and BenchmarkW4SlowConsumer: clients at 20 updates/s (full size 1000)")
	wDuration = flag.Duration("w.duration", 2*time.Second, "W2-W4: measured time of one run, after a 0.5 s warm-up (full size 10s)")
	w5Conns   = flag.Int("w5.conns", 1000, "BenchmarkW5IdleMemory: idle connections (full size 10000)")
)

const (
	benchRoom = "market:BENCH"
	dataSize  = 128 // bytes of one update's data, as the probe's message
)

// stallIP is the source address of W4's stalled client: the server shrinks
// the send buffer of that connection only, so the stall shows within
// seconds instead of after megabytes of loopback buffers.
var stallIP = net.IPv4(127, 0, 0, 2)

type benchHub struct {
	hub *ws.Hub
	ts  *httptest.Server
	url string
}

// newBenchHub serves a hub whose users are their bearer tokens, all
// admins: every client gives its own token, so the per-user connection
// limit never applies. ln, when not nil, is the listener to serve on.
func newBenchHub(cfg ws.Config, ln net.Listener) *benchHub {
	hub := ws.NewHub(cfg, ws.Deps{Authenticate: func(r *http.Request) (ws.Identity, error) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if tok == "" {
			return ws.Identity{}, errors.New("no token")
		}
		return ws.Identity{UserID: tok, Username: tok, Admin: true}, nil
	}})
	ts := httptest.NewUnstartedServer(hub)
	if ln != nil {
		ts.Listener.Close()
		ts.Listener = ln
	}
	ts.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok && s == http.StateNew && a.IP.Equal(stallIP) {
			_ = c.(*net.TCPConn).SetWriteBuffer(4096)
		}
	}
	ts.Start()
	return &benchHub{hub: hub, ts: ts, url: "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"}
}

func (h *benchHub) close() {
	h.hub.Close()
	h.ts.Close()
}

// dialSubscribed dials as token, subscribes to room and reads up to its
// SNAPSHOT.
func dialSubscribed(ctx context.Context, url, token, room string, client *http.Client) (*websocket.Conn, error) {
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client,
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return nil, fmt.Errorf("dial as %s: %w", token, err)
	}
	c.SetReadLimit(16 << 20)
	if room == "" {
		return c, nil
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"SUBSCRIBE","room":"`+room+`"}`)); err != nil {
		c.CloseNow()
		return nil, err
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			c.CloseNow()
			return nil, fmt.Errorf("%s: waiting for the snapshot: %w", token, err)
		}
		if bytes.HasPrefix(b, []byte(`{"type":"SNAPSHOT"`)) {
			return c, nil
		}
	}
}

// dialMany dials n subscribed clients, 32 at a time.
func dialMany(url string, n int, room string) ([]*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conns := make([]*websocket.Conn, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dialSubscribed(ctx, url, "c"+strconv.Itoa(i), room, nil)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		for _, c := range conns {
			if c != nil {
				c.CloseNow()
			}
		}
		return nil, err
	}
	return conns, nil
}

// dialStalled dials a client from stallIP with a small receive buffer; it
// subscribes to room and then never reads.
func dialStalled(url, room string) (*websocket.Conn, *http.Transport, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: stallIP}, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	tr := &http.Transport{DialContext: d.DialContext}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialSubscribed(ctx, url, "stalled", room, &http.Client{Transport: tr})
	if err != nil {
		tr.CloseIdleConnections()
		return nil, nil, err
	}
	return c, tr, nil
}

// needFiles raises the open-file limit for n descriptors or skips.
func needFiles(b *testing.B, n int) {
	b.Helper()
	got, err := probe.RaiseNoFile(uint64(n))
	if err != nil {
		b.Fatal(err)
	}
	if got < uint64(n) {
		b.Skipf("needs %d open files, the limit is %d (raise the hard limit: ulimit -Hn)", n, got)
	}
}

// updateData is one update's data: its dispatch time, padded to dataSize.
func updateData(now int64) []byte {
	b := make([]byte, 0, dataSize)
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, now, 10)
	b = append(b, `,"p":"`...)
	for len(b) < dataSize-2 {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

var tKey = []byte(`{"t":`)

// fanRun is one run of the hub: clients subscribed to benchRoom, updates
// dispatched at rate (0: as fast as the clients keep up, at most window
// items per client in flight on average).
type fanRun struct {
	clients  int
	updates  int           // with rate 0
	rate     float64       // updates per second
	duration time.Duration // with rate: measured time after the warm-up
	warmup   time.Duration
	window   int
	cfg      ws.Config
	stall    bool // add a client that never reads
}

type fanResult struct {
	dispatched  int
	deliveries  int64
	elapsed     time.Duration
	p50, p99    time.Duration
	stats       ws.Stats
	stallClosed time.Duration // time from the first dispatch to the stalled client's close
	cpu         time.Duration // process CPU time from the first dispatch to the last item
}

func (r fanRun) run() (fanResult, error) {
	var res fanResult
	h := newBenchHub(r.cfg, nil)
	defer h.close()
	conns, err := dialMany(h.url, r.clients, benchRoom)
	if err != nil {
		return res, err
	}
	if r.stall {
		c, tr, err := dialStalled(h.url, benchRoom)
		if err != nil {
			for _, c := range conns {
				c.CloseNow()
			}
			return res, err
		}
		defer tr.CloseIdleConnections()
		defer c.CloseNow()
	}
	var (
		items    atomic.Int64
		lastRecv atomic.Int64
		warmEnd  atomic.Int64
		readers  sync.WaitGroup
		lat      = make([][]time.Duration, len(conns))
	)
	warmEnd.Store(1<<63 - 1)
	if r.warmup == 0 {
		warmEnd.Store(0)
	}
	for i, c := range conns {
		readers.Add(1)
		go func() {
			defer readers.Done()
			var l []time.Duration
			if r.rate > 0 {
				l = make([]time.Duration, 0, int(r.rate*r.duration.Seconds())+16)
			}
			buf := make([]byte, 0, 64<<10)
			for {
				_, rd, err := c.Reader(context.Background())
				if err != nil {
					break
				}
				buf = buf[:0]
				for {
					if len(buf) == cap(buf) {
						buf = append(buf, 0)[:len(buf)]
					}
					n, err := rd.Read(buf[len(buf):cap(buf)])
					buf = buf[:len(buf)+n]
					if err == io.EOF {
						break
					}
					if err != nil {
						lat[i] = l
						return
					}
				}
				if !bytes.HasPrefix(buf, []byte(`{"type":"UPDATE"`)) {
					continue
				}
				now := time.Now().UnixNano()
				n := 0
				we := warmEnd.Load()
				for rest := buf; ; {
					j := bytes.Index(rest, tKey)
					if j < 0 {
						break
					}
					rest = rest[j+len(tKey):]
					var sent int64
					for len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
						sent = sent*10 + int64(rest[0]-'0')
						rest = rest[1:]
					}
					n++
					if r.rate > 0 && sent >= we {
						l = append(l, time.Duration(now-sent))
					}
				}
				items.Add(int64(n))
				for last := lastRecv.Load(); now > last && !lastRecv.CompareAndSwap(last, now); last = lastRecv.Load() {
				}
			}
			lat[i] = l
		}()
	}
	closeAll := func() {
		for _, c := range conns {
			c.CloseNow()
		}
		readers.Wait()
	}

	n := int64(len(conns))
	cpu0 := probe.ProcessCPU()
	start := time.Now()
	dispatch := func(i int) {
		now := time.Now().UnixNano()
		h.hub.Dispatch(bus.Update{Room: benchRoom, Position: uint64(i + 1), Kind: "quote", Key: "K" + strconv.Itoa(i), Data: updateData(now)})
	}
	i := 0
	if r.rate <= 0 {
		for ; i < r.updates; i++ {
			for int64(i)*n-items.Load() > int64(r.window)*n {
				time.Sleep(200 * time.Microsecond)
			}
			dispatch(i)
		}
	} else {
		interval := time.Duration(float64(time.Second) / r.rate)
		warm := int(r.warmup / interval)
		end := warm + int(r.duration/interval)
		limit := start.Add(30*time.Second + r.warmup)
		for ; ; i++ {
			if i >= end && (!r.stall || time.Now().After(limit) ||
				res.stallClosed > 0 && time.Since(start) > res.stallClosed+time.Second) {
				break
			}
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			if i == warm && warm > 0 {
				warmEnd.Store(time.Now().UnixNano())
			}
			dispatch(i)
			if r.stall && res.stallClosed == 0 && h.hub.Stats().SlowClosed > 0 {
				res.stallClosed = time.Since(start)
			}
		}
	}
	res.dispatched = i
	want := int64(i) * n
	deadline := time.Now().Add(2 * time.Minute)
	for items.Load() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	got := items.Load()
	res.cpu = probe.ProcessCPU() - cpu0
	res.stats = h.hub.Stats()
	closeAll()
	if got < want {
		return res, fmt.Errorf("clients received %d of %d items (hub stats %+v)", got, want, res.stats)
	}
	res.deliveries = got
	res.elapsed = time.Duration(lastRecv.Load() - start.UnixNano())
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	res.p50, res.p99 = probe.Percentiles(all)
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// BenchmarkW1Fanout: clients subscribed to one market room of a hub with
// the default Config (MaxPending 8192), with the default 50 ms batch window
// and with none (--ws-batch 0); the benchmark
// dispatches updates of 128 B data with a distinct key each (nothing
// conflates), keeping at most 2,048 items per client in flight on average.
// deliveries/s counts items received by all clients (an UPDATE message
// carries every item of its batch window), against the raw TCP probe's
// 128 B messages to the same number of connections.
func BenchmarkW1Fanout(b *testing.B) {
	needFiles(b, 2**w1Clients+256)
	for _, bw := range benchWindows {
		b.Run("batch="+windowName(bw), func(b *testing.B) { w1(b, bw) })
	}
}

func w1(b *testing.B, bw time.Duration) {
	for range b.N {
		r, err := fanRun{clients: *w1Clients, updates: *w1Updates, window: 2048, cfg: ws.Config{BatchWindow: bw}}.run()
		if err != nil {
			b.Fatal(err)
		}
		p, err := probe.Fanout(probe.FanoutConfig{Conns: *w1Clients, Messages: *w1Updates, Size: dataSize})
		if err != nil {
			b.Fatal(err)
		}
		rate := float64(r.deliveries) / r.elapsed.Seconds()
		b.ReportMetric(rate, "deliveries/s")
		b.ReportMetric(p.PerSecond, "probe_deliveries/s")
		b.ReportMetric(rate/p.PerSecond, "ratio")
		b.ReportMetric(float64(r.stats.ItemsOut)/float64(max(r.stats.MessagesOut, 1)), "items/msg")
		cpuHub, cpuProbe := float64(r.cpu)/1e3/float64(r.deliveries), float64(p.CPU)/1e3/float64(p.Deliveries)
		b.ReportMetric(cpuHub, "cpu_µs/delivery")
		b.ReportMetric(cpuProbe, "probe_cpu_µs/delivery")
		b.Logf("W1 %d clients × %d updates, batch window %s: hub %.0f items/s (%d items in %d messages, %v, %.1f CPU-µs per item); probe %.0f/s (%v, %.1f CPU-µs per message); ratio %.2f (target ≥ 0.5 and ≥ 300k/s)",
			*w1Clients, *w1Updates, windowName(bw), rate, r.deliveries, r.stats.MessagesOut, r.elapsed.Round(time.Millisecond), cpuHub,
			p.PerSecond, p.Elapsed.Round(time.Millisecond), cpuProbe, rate/p.PerSecond)
	}
}

// benchWindows are the batch windows W2-W4 run with: the default, and off
// (--ws-batch 0: updates go out as soon as the hub is free).
var benchWindows = []time.Duration{50 * time.Millisecond, -1}

func windowName(bw time.Duration) string {
	if bw < 0 {
		return "off"
	}
	return bw.String()
}

// latencyBench runs the hub at a fixed rate with each of benchWindows,
// beside the raw TCP probe at the same rate.
func latencyBench(b *testing.B, clients int, rate float64, slackMS float64) {
	needFiles(b, 2*clients+256)
	for _, bw := range benchWindows {
		b.Run("batch="+windowName(bw), func(b *testing.B) {
			for range b.N {
				r, err := fanRun{clients: clients, rate: rate, duration: *wDuration, warmup: 500 * time.Millisecond, cfg: ws.Config{BatchWindow: bw}}.run()
				if err != nil {
					b.Fatal(err)
				}
				warm := int(rate / 2)
				p, err := probe.Fanout(probe.FanoutConfig{Conns: clients, Messages: warm + int(rate*wDuration.Seconds()), Size: dataSize, Rate: rate, Warmup: warm})
				if err != nil {
					b.Fatal(err)
				}
				gate := 2*ms(p.P99) + slackMS
				b.ReportMetric(ms(r.p50), "p50_ms")
				b.ReportMetric(ms(r.p99), "p99_ms")
				b.ReportMetric(ms(p.P50), "probe_p50_ms")
				b.ReportMetric(ms(p.P99), "probe_p99_ms")
				b.ReportMetric(r.p99.Seconds()/p.P99.Seconds(), "p99_ratio")
				b.Logf("%d clients × %.0f/s, batch window %v: hub p50 %.2f ms p99 %.2f ms (%d deliveries, %d messages); probe p50 %.3f ms p99 %.3f ms; gate p99 ≤ 2×probe+%.0f ms = %.2f ms: met %v",
					clients, rate, windowName(bw), ms(r.p50), ms(r.p99), r.deliveries, r.stats.MessagesOut, ms(p.P50), ms(p.P99), slackMS, gate, ms(r.p99) <= gate)
			}
		})
	}
}

// BenchmarkW2Latency: 100 clients × 100 updates/s, Dispatch to client
// receive (the send time travels in the data).
func BenchmarkW2Latency(b *testing.B) { latencyBench(b, *w2Clients, 100, 1) }

// BenchmarkW3Latency: 1,000 clients × 20 updates/s.
func BenchmarkW3Latency(b *testing.B) { latencyBench(b, *w3Clients, 20, 2) }

// BenchmarkW4SlowConsumer: W3 with and without one more client that
// subscribes and never reads; the others' p99 with it over their p99
// without it. The stalled client's connection has 4 KiB socket buffers on
// both ends so it stalls within seconds; that run goes on until the hub has
// closed it and a second more (at most 30 s), and the run without it then
// dispatches as many updates.
func BenchmarkW4SlowConsumer(b *testing.B) {
	clients := *w3Clients
	needFiles(b, 2*clients+256)
	for _, bw := range benchWindows {
		b.Run("batch="+windowName(bw), func(b *testing.B) {
			for range b.N {
				const rate = 20
				warmup := 500 * time.Millisecond
				stalled := fanRun{clients: clients, rate: rate, duration: *wDuration, warmup: warmup, cfg: ws.Config{BatchWindow: bw}, stall: true}
				with, err := stalled.run()
				if err != nil {
					b.Fatal(err)
				}
				// The run without the stalled client dispatches as many
				// updates: the same length.
				base := stalled
				base.stall = false
				base.duration = time.Duration(with.dispatched)*time.Second/rate - warmup
				without, err := base.run()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(ms(without.p99), "p99_ms_without")
				b.ReportMetric(ms(with.p99), "p99_ms_with")
				b.ReportMetric(with.p99.Seconds()/without.p99.Seconds(), "p99_ratio")
				b.ReportMetric(float64(with.stats.SlowClosed), "slow_closed")
				b.Logf("%d clients × 20/s, batch window %v: others' p99 %.2f ms without the stalled client, %.2f ms with it (ratio %.2f, target ≤ 1.2); stalled client closed: %d (after %v; run %d updates)",
					clients, windowName(bw), ms(without.p99), ms(with.p99), with.p99.Seconds()/without.p99.Seconds(), with.stats.SlowClosed, with.stallClosed.Round(time.Millisecond), with.dispatched)
				if with.stats.SlowClosed == 0 {
					b.Errorf("the stalled client was not closed within the run")
				}
			}
		})
	}
}

// childMem is one memory reading of the W5 child process.
type childMem struct {
	rss, heapStack, stack int64
	goroutines            int
	clients               int64
}

// w5Child is the child process of BenchmarkW5IdleMemory.
type w5Child struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr string
}

func startW5Child(kind string) (*w5Child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-test.run=^TestW5Child$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ALGOAUTO_W5_CHILD="+kind)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &w5Child{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	line, err := c.line("ADDR ")
	if err != nil {
		c.stop()
		return nil, err
	}
	c.addr = line
	return c, nil
}

func (c *w5Child) line(prefix string) (string, error) {
	for c.out.Scan() {
		if v, ok := strings.CutPrefix(c.out.Text(), prefix); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("W5 child: no %q line (%v)", prefix, c.out.Err())
}

func (c *w5Child) mem() (childMem, error) {
	var m childMem
	if _, err := io.WriteString(c.in, "mem\n"); err != nil {
		return m, err
	}
	l, err := c.line("MEM ")
	if err != nil {
		return m, err
	}
	_, err = fmt.Sscan(l, &m.rss, &m.heapStack, &m.stack, &m.goroutines, &m.clients)
	return m, err
}

func (c *w5Child) stop() error {
	c.in.Close()
	for c.out.Scan() {
	}
	return c.cmd.Wait()
}

// TestW5Child serves BenchmarkW5IdleMemory from a child process, so that
// its memory is the server's alone: ALGOAUTO_W5_CHILD=ws serves the hub,
// =tcp the raw probe (probe.ServeIdle). It answers "mem" lines on stdin
// until stdin closes; with ALGOAUTO_W5_HEAPPROFILE=path it also writes a
// heap profile there at each reading.
func TestW5Child(t *testing.T) {
	kind := os.Getenv("ALGOAUTO_W5_CHILD")
	if kind == "" {
		t.Skip("the child process of BenchmarkW5IdleMemory")
	}
	if _, err := probe.RaiseNoFile(1 << 20); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		stop    func()
		clients func() int64
	)
	switch kind {
	case "tcp":
		stop = probe.ServeIdle(ln)
		clients = func() int64 { return -1 }
	case "ws":
		h := newBenchHub(ws.Config{}, ln)
		stop = h.close
		clients = func() int64 { return h.hub.Stats().Clients }
	default:
		t.Fatalf("ALGOAUTO_W5_CHILD=%q: want ws or tcp", kind)
	}
	defer stop()
	fmt.Printf("ADDR %s\n", ln.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		m, err := probe.ReadMemory()
		if err != nil {
			t.Fatal(err)
		}
		if p := os.Getenv("ALGOAUTO_W5_HEAPPROFILE"); p != "" {
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := pprof.WriteHeapProfile(f); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		fmt.Printf("MEM %d %d %d %d %d\n", m.RSS, m.HeapStack, m.Stack, m.Goroutine, clients())
	}
}

// BenchmarkW5IdleMemory: idle WebSocket connections, each subscribed to one
// market room, held by a hub in a child process (so the figure is the
// server's alone); KB per connection from the child's VmRSS and its
// HeapInuse+StackInuse, before and after. The raw TCP probe is the same
// child serving plain TCP connections with one goroutine and a 4 KiB read
// buffer each. The client side (this process) is reported too.
func BenchmarkW5IdleMemory(b *testing.B) {
	n := *w5Conns
	needFiles(b, n+256)
	for range b.N {
		type side struct{ rss, heap, stack, gor float64 }
		measure := func(kind string) (server, client side, clients int64) {
			c, err := startW5Child(kind)
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				if err := c.stop(); err != nil {
					b.Errorf("W5 child (%s): %v", kind, err)
				}
			}()
			m0, err := c.mem()
			if err != nil {
				b.Fatal(err)
			}
			p0, err := probe.ReadMemory()
			if err != nil {
				b.Fatal(err)
			}
			var closers []func()
			defer func() {
				for _, f := range closers {
					f()
				}
			}()
			switch kind {
			case "tcp":
				for range n {
					nc, err := net.Dial("tcp", c.addr)
					if err != nil {
						b.Fatal(err)
					}
					closers = append(closers, func() { nc.Close() })
				}
			case "ws":
				conns, err := dialMany("ws://"+c.addr+"/ws", n, "market:IDLE")
				if err != nil {
					b.Fatal(err)
				}
				var wg sync.WaitGroup
				for _, wc := range conns {
					wg.Add(1)
					go func() { // an idle client still answers heartbeats and pings
						defer wg.Done()
						for {
							if _, _, err := wc.Read(context.Background()); err != nil {
								return
							}
						}
					}()
				}
				closers = append(closers, func() {
					for _, wc := range conns {
						wc.CloseNow()
					}
					wg.Wait()
				})
			}
			time.Sleep(time.Second)
			m1, err := c.mem()
			if err != nil {
				b.Fatal(err)
			}
			p1, err := probe.ReadMemory()
			if err != nil {
				b.Fatal(err)
			}
			per := func(a, z int64) float64 { return float64(z-a) / float64(n) }
			return side{per(m0.rss, m1.rss) / 1024, per(m0.heapStack, m1.heapStack) / 1024, per(m0.stack, m1.stack) / 1024, per(int64(m0.goroutines), int64(m1.goroutines))},
				side{per(p0.RSS, p1.RSS) / 1024, per(int64(p0.HeapStack), int64(p1.HeapStack)) / 1024, per(int64(p0.Stack), int64(p1.Stack)) / 1024, per(int64(p0.Goroutine), int64(p1.Goroutine))},
				m1.clients
		}
		tcpS, _, _ := measure("tcp")
		wsS, wsC, clients := measure("ws")
		if clients != int64(n) {
			b.Errorf("the hub counted %d clients, want %d", clients, n)
		}
		b.ReportMetric(wsS.rss, "KB_rss/conn")
		b.ReportMetric(wsS.heap, "KB_heap+stack/conn")
		b.ReportMetric(tcpS.rss, "probe_KB_rss/conn")
		b.ReportMetric(wsS.rss/tcpS.rss, "ratio")
		b.ReportMetric(wsC.rss, "client_KB_rss/conn")
		b.Logf("%d idle connections, server side (child process): WebSocket %.1f KB RSS, %.1f KB heap+stack (%.1f KB stacks), %.1f goroutines per conn; raw TCP %.1f KB RSS, %.1f KB heap+stack (%.1f KB stacks), %.1f goroutines per conn (target ≤ 30 KB/conn: met %v)",
			n, wsS.rss, wsS.heap, wsS.stack, wsS.gor, tcpS.rss, tcpS.heap, tcpS.stack, tcpS.gor, wsS.rss <= 30)
		b.Logf("client side (this process, coder/websocket with one reading goroutine each): %.1f KB RSS, %.1f KB heap+stack, %.1f goroutines per conn",
			wsC.rss, wsC.heap, wsC.gor)
	}
}
