package bus_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/algoauto/algoauto/adapters/bus"
)

// backend is one transport under the conformance suite.
type backend struct {
	name string
	env  string // the variable enabling it; "" = always
	// inject appends an entry on topic that the transport itself cannot
	// read as a Watermill message (nil: the transport has no such thing).
	inject func(t *testing.T, spec, topic string)
	// cleanup removes what a test left on the server.
	cleanup func(tb testing.TB, spec, topic string)
	// separateNodes: a second Open is a second node on the same bus
	// (memory: two GoChannels never meet, so a "node" is a subscriber).
	separateNodes bool
}

var backends = []backend{
	{name: "memory"},
	{name: "nats", env: "ALGOAUTO_TEST_NATS", inject: natsInject, cleanup: natsCleanup, separateNodes: true},
	{name: "redis", env: "ALGOAUTO_TEST_REDIS", inject: redisInject, cleanup: redisCleanup, separateNodes: true},
}

func (be backend) spec(tb testing.TB) string {
	if be.env == "" {
		return "memory"
	}
	v := os.Getenv(be.env)
	if v == "" {
		tb.Skipf("%s is not set (e.g. %s): %s bus tests skipped", be.env, map[string]string{
			"ALGOAUTO_TEST_NATS":  "nats://127.0.0.1:4222",
			"ALGOAUTO_TEST_REDIS": "redis://127.0.0.1:6379/0",
		}[be.env], be.name)
	}
	return v
}

// TestPubSub runs the conformance suite against every transport.
func TestPubSub(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			spec := be.spec(t)
			t.Run("InOrder1000", func(t *testing.T) { testInOrder(t, be, spec) })
			t.Run("FanOutToTwoNodes", func(t *testing.T) { testFanOut(t, be, spec) })
			t.Run("MalformedSkipped", func(t *testing.T) { testMalformed(t, be, spec) })
			t.Run("CloseWithActiveSubscription", func(t *testing.T) { testClose(t, be, spec) })
			t.Run("ContextEndsSubscription", func(t *testing.T) { testContextEnd(t, be, spec) })
			t.Run("InvalidTopic", func(t *testing.T) { testInvalidTopic(t, be, spec) })
		})
	}
}

// --- helpers ---

// logBuf collects a test's log lines; they are printed if the test fails.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLog(t *testing.T) (*slog.Logger, *logBuf) {
	lb := &logBuf{}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("ALGOAUTO_TEST_BUS_LOG") != "" {
			t.Logf("log:\n%s", lb.String())
		}
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

func open(t *testing.T, spec string, log *slog.Logger) *bus.PubSub {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ps, err := bus.Open(ctx, spec, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ps.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return ps
}

// topic is unique per call, so reruns against one server never meet.
func topic(t testing.TB, be backend, spec string) string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	tp := fmt.Sprintf("test_%s_%d_%s", be.name, time.Now().UnixNano(), hex.EncodeToString(r[:]))
	if be.cleanup != nil {
		t.Cleanup(func() { be.cleanup(t, spec, tp) })
	}
	return tp
}

func updates(from, n int) []bus.Update {
	out := make([]bus.Update, n)
	for i := range out {
		p := from + i
		u := bus.Update{Room: "orders", Position: uint64(p), Kind: "OrderFilled", Key: fmt.Sprintf("ord-%d", p%7),
			Data: json.RawMessage(fmt.Sprintf(`{"i":%d,"px":"2612.35","s":"NIFTY \"26\" DEC ₹"}`, p))}
		switch p % 3 {
		case 1:
			u.Room, u.Kind, u.Key, u.Account = "market:NSE:NIFTY26DECFUT", "TickReceived", "NSE:NIFTY26DECFUT", ""
		case 2:
			u.Account = "paper-1"
		}
		out[i] = u
	}
	return out
}

// collect reads n updates from ch, failing at the deadline or if ch closes.
func collect(t *testing.T, ch <-chan bus.Update, n int, within time.Duration) []bus.Update {
	t.Helper()
	got := make([]bus.Update, 0, n)
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for len(got) < n {
		select {
		case u, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d of %d updates", len(got), n)
			}
			got = append(got, u)
		case <-deadline.C:
			t.Fatalf("only %d of %d updates within %s", len(got), n, within)
		}
	}
	return got
}

// quiet asserts nothing more arrives on ch for a short while.
func quiet(t *testing.T, ch <-chan bus.Update) {
	t.Helper()
	select {
	case u, ok := <-ch:
		if ok {
			t.Fatalf("unexpected extra update %+v", u)
		}
	case <-time.After(200 * time.Millisecond):
	}
}

func sameUpdates(t *testing.T, got, want []bus.Update) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d updates, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("update %d:\n got %+v (data %s)\nwant %+v (data %s)", i, got[i], got[i].Data, want[i], want[i].Data)
		}
	}
}

// publishAsync publishes in batches from a goroutine (memory waits for the
// subscriber, so publishing and receiving must overlap).
func publishAsync(ctx context.Context, pub message.Publisher, topic string, ups []bus.Update, batch int) <-chan error {
	done := make(chan error, 1)
	go func() {
		for i := 0; i < len(ups); i += batch {
			if err := bus.PublishUpdates(ctx, pub, topic, ups[i:min(i+batch, len(ups))]...); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

func waitErr(t *testing.T, ch <-chan error, within time.Duration) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(within):
		t.Fatalf("not done within %s", within)
		return nil
	}
}

func waitClosed(t *testing.T, ch <-chan bus.Update, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("update channel still open after %s", within)
		}
	}
}

// --- the cases ---

func testInOrder(t *testing.T, be backend, spec string) {
	log, _ := newLog(t)
	ps := open(t, spec, log)
	if ps.Kind() != be.name {
		t.Fatalf("Kind() = %q, want %q", ps.Kind(), be.name)
	}
	tp := topic(t, be, spec)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := bus.SubscribeUpdates(ctx, ps.Subscriber(), tp)
	if err != nil {
		t.Fatal(err)
	}
	want := updates(1, 1000)
	done := publishAsync(ctx, ps.Publisher(), tp, want, 100)
	sameUpdates(t, collect(t, ch, len(want), 30*time.Second), want)
	if err := waitErr(t, done, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	quiet(t, ch)
}

func testFanOut(t *testing.T, be backend, spec string) {
	log, _ := newLog(t)
	a := open(t, spec, log.With("node", "a"))
	b := a
	if be.separateNodes {
		b = open(t, spec, log.With("node", "b"))
	}
	tp := topic(t, be, spec)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	chA, err := bus.SubscribeUpdates(ctx, a.Subscriber(), tp)
	if err != nil {
		t.Fatal(err)
	}
	chB, err := bus.SubscribeUpdates(ctx, b.Subscriber(), tp)
	if err != nil {
		t.Fatal(err)
	}
	want := updates(1, 300)
	var wg sync.WaitGroup
	res := make([][]bus.Update, 2)
	errs := make([]string, 2)
	for i, ch := range []<-chan bus.Update{chA, chB} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = collectErr(ch, len(want), 30*time.Second)
		}()
	}
	// Both nodes publish, one after the other, so the order is known.
	if err := waitErr(t, publishAsync(ctx, a.Publisher(), tp, want[:150], 50), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, publishAsync(ctx, b.Publisher(), tp, want[150:], 50), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, name := range []string{"a", "b"} {
		if errs[i] != "" {
			t.Fatalf("node %s: %s", name, errs[i])
		}
		sameUpdates(t, res[i], want)
	}
}

// collectErr is collect for goroutines: it reports instead of failing.
func collectErr(ch <-chan bus.Update, n int, within time.Duration) ([]bus.Update, string) {
	got := make([]bus.Update, 0, n)
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for len(got) < n {
		select {
		case u, ok := <-ch:
			if !ok {
				return got, fmt.Sprintf("channel closed after %d of %d updates", len(got), n)
			}
			got = append(got, u)
		case <-deadline.C:
			return got, fmt.Sprintf("only %d of %d updates within %s", len(got), n, within)
		}
	}
	return got, ""
}

func testMalformed(t *testing.T, be backend, spec string) {
	log, lb := newLog(t)
	ps := open(t, spec, log)
	tp := topic(t, be, spec)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := bus.SubscribeUpdates(ctx, ps.Subscriber(), tp)
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	pubRaw := func(payload string) {
		t.Helper()
		bad++
		done := make(chan error, 1)
		go func() { done <- ps.Publisher().Publish(tp, message.NewMessage(uuid.NewString(), []byte(payload))) }()
		if err := waitErr(t, done, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	pubRaw("not json at all")
	pubRaw(`{"position":7,"data":{}}`) // no room
	if be.inject != nil {
		be.inject(t, spec, tp)
		bad++
	}
	// An array with bad elements: the good one still arrives.
	first := bus.Update{Room: "events", Position: 99, Data: json.RawMessage(`{"ok":true}`)}
	enc, _ := json.Marshal(first)
	pubRaw(`[{"position":97},` + string(enc) + `,{"room":98}]`)
	want := updates(100, 3)
	done := publishAsync(ctx, ps.Publisher(), tp, want, 3)
	want = append([]bus.Update{first}, want...)
	sameUpdates(t, collect(t, ch, len(want), 20*time.Second), want)
	if err := waitErr(t, done, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	quiet(t, ch)
	if n := strings.Count(lb.String(), "skipping undecodable update"); n != bad {
		t.Fatalf("%d skipped-update warnings logged, want %d", n, bad)
	}
	if strings.Contains(lb.String(), "level=ERROR") {
		t.Fatalf("errors logged:\n%s", lb.String())
	}
}

func testClose(t *testing.T, be backend, spec string) {
	log, _ := newLog(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ps, err := bus.Open(ctx, spec, log)
	if err != nil {
		t.Fatal(err)
	}
	tp := topic(t, be, spec)
	ch, err := bus.SubscribeUpdates(context.Background(), ps.Subscriber(), tp)
	if err != nil {
		t.Fatal(err)
	}
	// More than the subscription buffers, and nobody reads past the first:
	// memory's publisher is left waiting when Close comes.
	done := publishAsync(context.Background(), ps.Publisher(), tp, updates(1, 500), 10)
	collect(t, ch, 1, 20*time.Second)
	closed := make(chan error, 1)
	go func() { closed <- ps.Close() }()
	if err := waitErr(t, closed, 20*time.Second); err != nil {
		t.Fatalf("close: %v", err)
	}
	waitClosed(t, ch, 10*time.Second)
	_ = waitErr(t, done, 20*time.Second) // nil or "closed": it must return
	if err := ps.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := bus.PublishUpdates(context.Background(), ps.Publisher(), tp, updates(1, 1)...); err == nil {
		t.Fatal("publish after close succeeded")
	}
	// Nothing the PubSub started outlives Close (main_test.go checks again
	// at the end).
	goleak.VerifyNone(t)
}

func testContextEnd(t *testing.T, be backend, spec string) {
	log, _ := newLog(t)
	ps := open(t, spec, log)
	tp := topic(t, be, spec)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := bus.SubscribeUpdates(ctx, ps.Subscriber(), tp)
	if err != nil {
		t.Fatal(err)
	}
	stay, err := bus.SubscribeUpdates(context.Background(), ps.Subscriber(), tp)
	if err != nil {
		t.Fatal(err)
	}
	want := updates(1, 5)
	done := publishAsync(context.Background(), ps.Publisher(), tp, want, 5)
	sameUpdates(t, collect(t, ch, 5, 20*time.Second), want)
	sameUpdates(t, collect(t, stay, 5, 20*time.Second), want)
	if err := waitErr(t, done, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	cancel()
	waitClosed(t, ch, 10*time.Second)
	// The other subscription goes on.
	want = updates(6, 5)
	done = publishAsync(context.Background(), ps.Publisher(), tp, want, 5)
	sameUpdates(t, collect(t, stay, 5, 20*time.Second), want)
	if err := waitErr(t, done, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func testInvalidTopic(t *testing.T, be backend, spec string) {
	log, _ := newLog(t)
	ps := open(t, spec, log)
	for _, tp := range []string{"", "a.b", "a b", "a*", "a>", "x:y", strings.Repeat("a", 129)} {
		if err := bus.PublishUpdates(context.Background(), ps.Publisher(), tp, updates(1, 1)...); !errors.Is(err, bus.ErrInvalidTopic) {
			t.Errorf("publish to %q: %v, want ErrInvalidTopic", tp, err)
		}
		if _, err := bus.SubscribeUpdates(context.Background(), ps.Subscriber(), tp); !errors.Is(err, bus.ErrInvalidTopic) {
			t.Errorf("subscribe to %q: %v, want ErrInvalidTopic", tp, err)
		}
	}
	if err := bus.CheckTopic(bus.UpdatesTopic); err != nil {
		t.Fatal(err)
	}
	if err := bus.PublishUpdates(context.Background(), ps.Publisher(), "ok", bus.Update{Position: 1}); err == nil {
		t.Error("an update without a room was published")
	}
}

// TestOpenErrors needs no server: bad specs fail with a clear error, and a
// password never shows in an error or a log line.
func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"kafka://127.0.0.1:9092", "unknown spec"},
		{"localhost:4222", "unknown spec"},
		{"NATS", "unknown spec"},
		{"nats://", "missing host"},
		{"redis:///0", "missing host"},
		{"nats://127.0.0.1:4222?storage=tape", "storage"},
		{"nats://127.0.0.1:4222?bogus=1", "unknown option"},
		{"nats://127.0.0.1:4222?stream=a.b", "stream"},
		{"nats://127.0.0.1:4222?max_age=soon", "max_age"},
		{"redis://127.0.0.1:6379/notadb", "notadb"},
		{"redis://127.0.0.1:6379/0?maxlen=-1", "maxlen"},
		{"redis://u:s3cr%zzet@127.0.0.1:1/0", "malformed"},
		{"nats://u:s3cr3t@127.0.0.1:1", "connect to NATS"},
		{"redis://u:s3cr3t@127.0.0.1:1/0", "connect to Redis"},
		{"redis://:s3cr3t@127.0.0.1:1/0", "connect to Redis"},
		{"nats://s3cr3t@127.0.0.1:1", "connect to NATS"},         // a token
		{"nats://s3cr3t@127.0.0.1:1?bogus=1", "unknown option"},  // a token
		{"redis://127.0.0.1:1/0?password=s3cr3t", "127.0.0.1:1"}, // go-redis or connect error
		{"redis://u:s3cr3t@127.0.0.1:6379/0?frob=1", "frob"},     // go-redis: unknown option
		{"kafka://u:s3cr3t@127.0.0.1:9092?token=s3cr3t", "unknown spec"},
	} {
		log, lb := newLog(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ps, err := bus.Open(ctx, tc.spec, log)
		cancel()
		if err == nil {
			_ = ps.Close()
			t.Errorf("%s: opened", tc.spec)
			continue
		}
		msg := err.Error()
		t.Logf("error: %s", msg)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%s: error %q does not mention %q", tc.spec, msg, tc.want)
		}
		if strings.Contains(tc.want, "unknown spec") && !(strings.Contains(msg, `"memory"`) && strings.Contains(msg, "nats://") && strings.Contains(msg, "redis://")) {
			t.Errorf("%s: error %q does not name the accepted forms", tc.spec, msg)
		}
		for _, secret := range []string{"s3cr3t", "s3cr%zzet"} {
			if strings.Contains(msg, secret) || strings.Contains(lb.String(), secret) {
				t.Errorf("%s: password in error %q or log %q", tc.spec, msg, lb.String())
			}
		}
	}
	ps, err := bus.Open(context.Background(), "", nil)
	if err != nil || ps.Kind() != bus.KindMemory {
		t.Fatalf(`Open(""): %v, %v`, ps, err)
	}
	if err := ps.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeUpdates(t *testing.T) {
	for _, p := range []string{"", "null", "{", "[", `{"room":""}`, `{"room":1}`, `"room"`, "[1]", `[{"room":""}]`} {
		if _, err := bus.DecodeUpdates(message.NewMessage("x", []byte(p))); !errors.Is(err, bus.ErrBadUpdate) {
			t.Errorf("%q: %v, want ErrBadUpdate", p, err)
		}
	}
	ups, err := bus.DecodeUpdates(message.NewMessage("x", []byte(` {"room":"events","position":3,"data":{"a":1}}`)))
	if err != nil || len(ups) != 1 || ups[0].Room != "events" || ups[0].Position != 3 || string(ups[0].Data) != `{"a":1}` {
		t.Fatalf("%+v, %v", ups, err)
	}
	ups, err = bus.DecodeUpdates(message.NewMessage("x", []byte(`[{"room":"a","position":1},{"position":2},{"room":"c","position":3}]`)))
	if !errors.Is(err, bus.ErrBadUpdate) || len(ups) != 2 || ups[0].Room != "a" || ups[1].Room != "c" {
		t.Fatalf("mixed array: %+v, %v", ups, err)
	}
}

// TestPublishUpdatesBatching: one message per MaxUpdatesPerMessage updates
// or MaxMessageBytes, in order, metadata set, and it decodes back.
func TestPublishUpdatesBatching(t *testing.T) {
	var got []*message.Message
	pub := publisherFunc(func(topic string, msgs ...*message.Message) error {
		got = append(got, msgs...)
		return nil
	})
	ups := updates(1, 2*bus.MaxUpdatesPerMessage+1)
	big := bus.Update{Room: "events", Position: 10_000, Data: json.RawMessage(`"` + strings.Repeat("x", bus.MaxMessageBytes) + `"`)}
	ups = append(ups, big, bus.Update{Room: "events", Position: 10_001, Data: json.RawMessage(`{}`)})
	if err := bus.PublishUpdates(context.Background(), pub, "t", ups...); err != nil {
		t.Fatal(err)
	}
	counts := []int{}
	var back []bus.Update
	for _, m := range got {
		dec, err := bus.DecodeUpdates(m)
		if err != nil {
			t.Fatal(err)
		}
		if m.Metadata.Get(bus.MetadataCount) != fmt.Sprint(len(dec)) || m.Metadata.Get(bus.MetadataPosition) != fmt.Sprint(dec[len(dec)-1].Position) {
			t.Fatalf("metadata %v for %d updates ending at %d", m.Metadata, len(dec), dec[len(dec)-1].Position)
		}
		if _, err := uuid.Parse(m.UUID); err != nil {
			t.Fatalf("message id %q: %v", m.UUID, err)
		}
		if len(m.Payload) > bus.MaxMessageBytes && len(dec) > 1 {
			t.Fatalf("%d bytes in a message of %d updates", len(m.Payload), len(dec))
		}
		counts = append(counts, len(dec))
		back = append(back, dec...)
	}
	if want := []int{256, 256, 1, 1, 1}; !reflect.DeepEqual(counts, want) {
		t.Fatalf("updates per message %v, want %v", counts, want)
	}
	sameUpdates(t, back, ups)
	if err := bus.PublishUpdates(context.Background(), pub, "t", bus.Update{Room: "x", Data: json.RawMessage(`{bad`)}); err == nil {
		t.Fatal("invalid Data published")
	}
}

type publisherFunc func(topic string, msgs ...*message.Message) error

func (f publisherFunc) Publish(topic string, msgs ...*message.Message) error {
	return f(topic, msgs...)
}
func (publisherFunc) Close() error { return nil }

// --- raw transport access (malformed entries, cleanup, benchmark probes) ---

func natsConn(tb testing.TB, spec string) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(spec)
	if err != nil {
		tb.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		tb.Fatal(err)
	}
	return nc, js
}

func natsInject(t *testing.T, spec, topic string) {
	nc, js := natsConn(t, spec)
	defer nc.Close()
	m := nats.NewMsg(bus.DefaultNATSStream + "." + topic)
	m.Header.Add("position", "1")
	m.Header.Add("position", "2") // Watermill refuses repeated headers
	m.Data = []byte(`{"room":"orders"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
}

func natsCleanup(t testing.TB, spec, topic string) {
	nc, js := natsConn(t, spec)
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, bus.DefaultNATSStream)
	if err == nil {
		err = s.Purge(ctx, jetstream.WithPurgeSubject(bus.DefaultNATSStream+"."+topic))
	}
	if err != nil {
		t.Logf("purge %s: %v", topic, err)
	}
}

func redisClient(tb testing.TB, spec string) *redis.Client {
	tb.Helper()
	opts, err := redis.ParseURL(spec)
	if err != nil {
		tb.Fatal(err)
	}
	return redis.NewClient(opts)
}

func redisInject(t *testing.T, spec, topic string) {
	c := redisClient(t, spec)
	defer c.Close()
	if err := c.XAdd(context.Background(), &redis.XAddArgs{Stream: topic, Values: []string{"room", "orders"}}).Err(); err != nil {
		t.Fatal(err)
	}
}

func redisCleanup(t testing.TB, spec, topic string) {
	c := redisClient(t, spec)
	defer c.Close()
	if err := c.Del(context.Background(), topic).Err(); err != nil {
		t.Logf("del %s: %v", topic, err)
	}
}

// TestNATSStream: Open creates a missing stream with the spec's options and
// refuses a stream of that name that does not hold the bus's subjects.
func TestNATSStream(t *testing.T) {
	spec := backends[1].spec(t)
	nc, js := natsConn(t, spec)
	t.Cleanup(nc.Close) // after the deletes below (cleanups run last first)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	name := fmt.Sprintf("ALGOAUTO_TEST_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		for _, n := range []string{name, name + "_X"} {
			if err := js.DeleteStream(context.Background(), n); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Errorf("delete stream %s: %v", n, err)
			}
		}
	})
	log, _ := newLog(t)
	ps := open(t, spec+"?stream="+name+"&max_age=90s&storage=memory", log)
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if cfg.MaxAge != 90*time.Second || cfg.Storage != jetstream.MemoryStorage || len(cfg.Subjects) != 1 || cfg.Subjects[0] != name+".>" {
		t.Fatalf("stream config %+v", cfg)
	}
	tp := topic(t, backend{name: "nats"}, spec)
	ch, err := bus.SubscribeUpdates(ctx, ps.Subscriber(), tp)
	if err != nil {
		t.Fatal(err)
	}
	want := updates(1, 10)
	if err := bus.PublishUpdates(ctx, ps.Publisher(), tp, want...); err != nil {
		t.Fatal(err)
	}
	sameUpdates(t, collect(t, ch, 10, 10*time.Second), want)
	if n := s.CachedInfo().State.Msgs; n != 0 {
		t.Fatalf("fresh stream had %d messages", n)
	}
	if info, err := s.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Fatalf("stream holds %v messages (%v), want 1 (10 updates in one message)", info.State.Msgs, err)
	}

	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name + "_X", Subjects: []string{"elsewhere_" + name}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	if ps, err := bus.Open(ctx, spec+"?stream="+name+"_X", log); err == nil {
		_ = ps.Close()
		t.Fatal("opened a stream without the bus's subjects")
	} else if !strings.Contains(err.Error(), "without") {
		t.Fatalf("error %q does not say what is wrong", err)
	}
}

var benchBatch = flag.Int("bus.batch", 100, "updates per PublishUpdates call in BenchmarkUpdatesRoundTrip")

// BenchmarkUpdatesRoundTrip: publish b.N updates (PublishUpdates calls of
// -bus.batch updates, default 100, so one message each) and receive them on one SubscribeUpdates
// channel, per transport. In the same run a probe moves the same updates in
// the same batches, JSON-encoded and decoded the same way, with no
// Watermill: a bare Go channel (memory), raw nats.go JetStream publishes and
// an ordered consumer (nats), raw go-redis XADD and XREAD (redis). Reports
// updates/s, the probe's updates/s and their ratio.
func BenchmarkUpdatesRoundTrip(b *testing.B) {
	batch := *benchBatch
	probes := map[string]func(b *testing.B, spec string, ups []bus.Update, batch int) time.Duration{
		"memory": probeChan, "nats": probeNATS, "redis": probeRedis,
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			spec := be.spec(b)
			ctx := context.Background()
			ps, err := bus.Open(ctx, spec, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer ps.Close()
			tp := topic(b, be, spec)
			ups := updates(1, b.N)
			ch, err := bus.SubscribeUpdates(ctx, ps.Subscriber(), tp)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			t0 := time.Now()
			done := publishAsync(ctx, ps.Publisher(), tp, ups, batch)
			var last bus.Update
			for range b.N {
				u, ok := <-ch
				if !ok {
					b.Fatal("channel closed")
				}
				last = u
			}
			elapsed := time.Since(t0)
			b.StopTimer()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			if last.Position != uint64(b.N) {
				b.Fatalf("last position %d, want %d", last.Position, b.N)
			}
			pe := probes[be.name](b, spec, ups, batch)
			rate, prate := float64(b.N)/elapsed.Seconds(), float64(b.N)/pe.Seconds()
			b.ReportMetric(rate, "updates/s")
			b.ReportMetric(prate, "probe-updates/s")
			b.ReportMetric(rate/prate, "ratio")
		})
	}
}

// encodeBatches yields ups as JSON arrays of batch updates, the payloads
// PublishUpdates makes for calls of that size.
func encodeBatches(b *testing.B, ups []bus.Update, batch int, yield func([]byte)) {
	for i := 0; i < len(ups); i += batch {
		p, err := json.Marshal(ups[i:min(i+batch, len(ups))])
		if err != nil {
			b.Fatal(err)
		}
		yield(p)
	}
}

func decodeBatch(b *testing.B, p []byte) int {
	var ups []bus.Update
	if err := json.Unmarshal(p, &ups); err != nil {
		b.Error(err)
	}
	return len(ups)
}

// probeChan: the encoded batches over a Go channel, decoded on the other
// side.
func probeChan(b *testing.B, _ string, ups []bus.Update, batch int) time.Duration {
	ch := make(chan []byte, 1)
	t0 := time.Now()
	go func() {
		encodeBatches(b, ups, batch, func(p []byte) { ch <- p })
		close(ch)
	}()
	for p := range ch {
		decodeBatch(b, p)
	}
	return time.Since(t0)
}

// probeNATS: synchronous JetStream publishes of the batches (each waits for
// its PubAck, as the adapter's do) and an ordered consumer from new
// messages, with nats.go alone.
func probeNATS(b *testing.B, spec string, ups []bus.Update, batch int) time.Duration {
	tp := topic(b, backend{name: "natsprobe", cleanup: natsCleanup}, spec)
	subj := bus.DefaultNATSStream + "." + tp
	pc, js := natsConn(b, spec)
	defer pc.Close()
	sc, err := nats.Connect(spec)
	if err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	sjs, err := sc.JetStream()
	if err != nil {
		b.Fatal(err)
	}
	got := make(chan struct{})
	n := 0
	sub, err := sjs.Subscribe(subj, func(m *nats.Msg) {
		if n += decodeBatch(b, m.Data); n == len(ups) {
			close(got)
		}
	}, nats.OrderedConsumer(), nats.DeliverNew())
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	ctx := context.Background()
	t0 := time.Now()
	encodeBatches(b, ups, batch, func(p []byte) {
		if _, err := js.Publish(ctx, subj, p); err != nil {
			b.Fatal(err)
		}
	})
	<-got
	return time.Since(t0)
}

// probeRedis: XADD of the batches (MAXLEN ~, one round trip each, as the
// adapter's) and an XREAD BLOCK loop, with go-redis alone.
func probeRedis(b *testing.B, spec string, ups []bus.Update, batch int) time.Duration {
	key := topic(b, backend{name: "redisprobe", cleanup: redisCleanup}, spec)
	c := redisClient(b, spec)
	defer c.Close()
	ctx := context.Background()
	done := make(chan error, 1)
	t0 := time.Now()
	go func() {
		last, n := "0-0", 0
		for n < len(ups) {
			xs, err := c.XRead(ctx, &redis.XReadArgs{Streams: []string{key, last}, Count: 100, Block: time.Second}).Result()
			if err != nil {
				done <- err
				return
			}
			for _, m := range xs[0].Messages {
				n += decodeBatch(b, []byte(m.Values["payload"].(string)))
				last = m.ID
			}
		}
		done <- nil
	}()
	encodeBatches(b, ups, batch, func(p []byte) {
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: key, MaxLen: bus.DefaultRedisMaxLen, Approx: true, Values: []any{"payload", p}}).Err(); err != nil {
			b.Fatal(err)
		}
	})
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}
