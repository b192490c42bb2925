package probe

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// FanoutConfig configures the raw TCP fan-out probe, the anchor of the
// WebSocket benchmarks (PERFORMANCE.md §8 probe 5): one hub loop hands each
// message, encoded once, to a bounded queue per connection; a writer
// goroutine per connection writes it; a reader goroutine per client reads it
// and measures its latency from the send timestamp it carries.
type FanoutConfig struct {
	// Conns is the number of loopback client connections.
	Conns int
	// Messages is how many messages every connection receives.
	Messages int
	// Size is the payload of one message after its 4-byte length prefix
	// [128]; its first 8 bytes are the send time.
	Size int
	// Rate is messages per second (each to every connection); 0 sends as
	// fast as the per-connection queues take them.
	Rate float64
	// Queue is the per-connection queue length [256]; the hub loop blocks
	// on a full queue (backpressure, no drops).
	Queue int
	// Warmup messages are delivered but left out of the latency figures.
	Warmup int
	// Addr is the listen address [127.0.0.1:0].
	Addr string
}

// FanoutResult is the outcome of a fan-out probe.
type FanoutResult struct {
	Conns, Messages int
	// Deliveries is messages received by all clients together.
	Deliveries int64
	// Elapsed runs from the first send to the last message received.
	Elapsed time.Duration
	// PerSecond is Deliveries / Elapsed.
	PerSecond float64
	// P50 and P99 are send-to-receive latencies over every delivery after
	// the warm-up.
	P50, P99 time.Duration
	// CPU is the process's user+system time from the first send to the
	// end (server and clients together: they share the process).
	CPU time.Duration
}

// Fanout runs the raw TCP fan-out probe.
func Fanout(cfg FanoutConfig) (FanoutResult, error) {
	if cfg.Conns <= 0 || cfg.Messages <= 0 {
		return FanoutResult{}, errors.New("probe: fanout: want Conns and Messages > 0")
	}
	if cfg.Size <= 0 {
		cfg.Size = 128
	}
	cfg.Size = max(cfg.Size, 8)
	if cfg.Queue <= 0 {
		cfg.Queue = 256
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return FanoutResult{}, fmt.Errorf("probe: fanout: %w", err)
	}
	defer ln.Close()

	// Connect every client and accept its server side.
	servers := make([]net.Conn, 0, cfg.Conns)
	clients := make([]net.Conn, 0, cfg.Conns)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
		for _, c := range servers {
			c.Close()
		}
	}()
	accepted := make(chan net.Conn, cfg.Conns)
	acceptErr := make(chan error, 1)
	go func() {
		for range cfg.Conns {
			c, err := ln.Accept()
			if err != nil {
				acceptErr <- err
				return
			}
			accepted <- c
		}
	}()
	for range cfg.Conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return FanoutResult{}, fmt.Errorf("probe: fanout: dial: %w", err)
		}
		clients = append(clients, c)
		select {
		case s := <-accepted:
			servers = append(servers, s)
		case err := <-acceptErr:
			return FanoutResult{}, fmt.Errorf("probe: fanout: accept: %w", err)
		}
	}

	frameLen := 4 + cfg.Size
	var (
		lastRecv  atomic.Int64
		recvd     atomic.Int64
		readErr   atomic.Pointer[error]
		readers   sync.WaitGroup
		warmEnd   atomic.Int64 // send time (ns) from which latencies count
		latencies = make([][]time.Duration, cfg.Conns)
	)
	warmEnd.Store(1<<63 - 1)
	if cfg.Warmup <= 0 {
		warmEnd.Store(0)
	}
	for i, c := range clients {
		readers.Add(1)
		lat := make([]time.Duration, 0, max(cfg.Messages-cfg.Warmup, 0))
		go func() {
			defer readers.Done()
			r := bufio.NewReaderSize(c, 4096)
			buf := make([]byte, frameLen)
			for n := 0; n < cfg.Messages; n++ {
				if _, err := io.ReadFull(r, buf); err != nil {
					readErr.CompareAndSwap(nil, &err)
					break
				}
				now := time.Now().UnixNano()
				sent := int64(binary.LittleEndian.Uint64(buf[4:]))
				if sent >= warmEnd.Load() {
					lat = append(lat, time.Duration(now-sent))
				}
				recvd.Add(1)
				for l := lastRecv.Load(); now > l && !lastRecv.CompareAndSwap(l, now); l = lastRecv.Load() {
				}
			}
			latencies[i] = lat
		}()
	}

	// One writer per connection behind a bounded queue.
	queues := make([]chan []byte, cfg.Conns)
	var writers sync.WaitGroup
	for i, s := range servers {
		q := make(chan []byte, cfg.Queue)
		queues[i] = q
		writers.Add(1)
		go func() {
			defer writers.Done()
			w := bufio.NewWriterSize(s, 4096)
			for b := range q {
				if _, err := w.Write(b); err != nil {
					return
				}
				if len(q) == 0 {
					if err := w.Flush(); err != nil {
						return
					}
				}
			}
			_ = w.Flush()
		}()
	}

	// The hub loop: each message encoded once, queued to every connection.
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
	}
	cpu0 := ProcessCPU()
	start := time.Now()
	for i := range cfg.Messages {
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
		}
		b := make([]byte, frameLen)
		binary.BigEndian.PutUint32(b, uint32(cfg.Size))
		for j := 12; j < frameLen; j++ {
			b[j] = 'x'
		}
		now := time.Now().UnixNano()
		if i == cfg.Warmup && cfg.Warmup > 0 {
			warmEnd.Store(now)
		}
		binary.LittleEndian.PutUint64(b[4:], uint64(now))
		for _, q := range queues {
			q <- b
		}
	}
	for _, q := range queues {
		close(q)
	}
	writers.Wait()
	readers.Wait()
	cpu := ProcessCPU() - cpu0
	if p := readErr.Load(); p != nil {
		return FanoutResult{}, fmt.Errorf("probe: fanout: read: %w", *p)
	}
	el := time.Duration(lastRecv.Load() - start.UnixNano())
	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	p50, p99 := Percentiles(all)
	n := recvd.Load()
	return FanoutResult{Conns: cfg.Conns, Messages: cfg.Messages, Deliveries: n, Elapsed: el,
		PerSecond: float64(n) / el.Seconds(), P50: p50, P99: p99, CPU: cpu}, nil
}

// ProcessCPU returns the user+system CPU time this process has used.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ServeIdle accepts connections on ln until it is closed and gives each
// one goroutine blocked in a read through a 4 KiB buffer: the least a
// server holds for an idle client, the memory anchor of the idle
// WebSocket benchmark. The returned function closes ln and every
// connection and waits for their goroutines.
func ServeIdle(ln net.Listener) (closeAll func()) {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := bufio.NewReaderSize(c, 4096)
				_, _ = io.Copy(io.Discard, r)
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	return func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}

// Memory is a process's memory at one moment.
type Memory struct {
	RSS       int64  // VmRSS, bytes
	HeapStack uint64 // runtime HeapInuse + StackInuse after a GC (this process only)
	Stack     uint64 // StackInuse alone
	Goroutine int    // this process only
}

// ProcRSS reads VmRSS of a process (pid 0: this one) from /proc.
func ProcRSS(pid int) (int64, error) {
	p := "/proc/self/status"
	if pid > 0 {
		p = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, fmt.Errorf("probe: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("probe: VmRSS %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("probe: no VmRSS in " + p)
}

// ReadMemory collects garbage and measures this process.
func ReadMemory() (Memory, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, err := ProcRSS(0)
	return Memory{RSS: rss, HeapStack: ms.HeapInuse + ms.StackInuse, Stack: ms.StackInuse, Goroutine: runtime.NumGoroutine()}, err
}

// RaiseNoFile raises the soft open-file limit toward want (at most the
// hard limit) and returns the soft limit in force.
func RaiseNoFile(want uint64) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("probe: getrlimit: %w", err)
	}
	if l.Cur >= want {
		return l.Cur, nil
	}
	l.Cur = min(want, l.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("probe: setrlimit: %w", err)
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("probe: getrlimit: %w", err)
	}
	return l.Cur, nil
}
