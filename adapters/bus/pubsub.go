package bus

// PubSub: the Watermill publisher and subscriber that carry read-model
// updates from projections to the WebSocket hubs of every API node.
//
// Three transports, chosen by a spec string (Open):
//
//   - "memory" (or ""): Watermill's GoChannel, one process. Publish waits
//     until every subscriber has acked the message (BlockPublishUntilSubscriberAck),
//     which is what keeps GoChannel ordered. SubscribeUpdates acks once the
//     message's updates are in its 64-update buffer, so a publisher waits
//     only for a hub that is that far behind; a hub that stops reading
//     stalls the publisher until its subscription ends (hubs must keep
//     reading and conflate).
//   - "nats://[user:pass@]host:port[?stream=ALGOAUTO_BUS&max_age=1h&storage=file]":
//     watermill-nats/v2 (pkg/nats) publishes with JetStream; subscriptions
//     are nats.go's own (natsSubscriber). All topics share one
//     stream (default ALGOAUTO_BUS, subjects "ALGOAUTO_BUS.>", topic T is
//     subject "ALGOAUTO_BUS.T"), created by Open when missing with file
//     storage, limits retention and a max age of 1 hour (discard old), so the
//     server never grows without bound; an existing stream is used as it is.
//     Every Subscribe creates its own ordered consumer (ephemeral, starts at
//     new messages, no acks, flow control and heartbeats; nats.go recreates
//     it from the last delivered sequence after a gap or a server restart),
//     so every node sees every message in stream order and nothing is left
//     on the server when a node dies (the server drops idle ephemeral
//     consumers).
//   - "redis://[user:pass@]host:port[/db][?maxlen=100000]" (or rediss://):
//     watermill-redisstream with go-redis. A topic is a stream key; XADD
//     trims it to about maxlen entries (MAXLEN ~, default 100,000). Subscribe
//     reads without a consumer group (XREAD fan-out) from the stream's last
//     entry at the time of Subscribe, so every node reads every message in
//     order and no group or pending list is left on the server.
//
// Topics must match [A-Za-z0-9_-]{1,128} on every transport (a NATS subject
// token and stream-name safe, a plain Redis key), so code that works on
// "memory" works on the others; UpdatesTopic is "algoauto_updates".
//
// Delivery: a subscription gets the messages published after Subscribe
// returned, once each and in order, while its node is up; nothing is
// redelivered across a node's restart (a restarted hub starts from the read
// models, and Update.Position tells it what it already reflects). Across a
// broker restart: NATS (file storage) resumes where it was; the adapter
// reconnects forever, publishes fail while the server is down. Redis
// (without persistence) loses the streams, readers retry every 500ms and go
// on with new entries, publishes fail while it is down. Two rarer cases may
// repeat or skip: a NATS ordered consumer recreated before it delivered
// anything replays what the stream holds (at most max_age; hubs drop
// positions they have seen), and a Redis reader more than maxlen entries
// behind skips what was trimmed.
//
// Credentials in a spec never appear in errors or logs.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
)

// Kinds of PubSub, as returned by Kind.
const (
	KindMemory = "memory"
	KindNATS   = "nats"
	KindRedis  = "redis"
)

// Defaults of the NATS and Redis transports (see the file comment).
const (
	DefaultNATSStream  = "ALGOAUTO_BUS"
	DefaultNATSMaxAge  = time.Hour
	DefaultRedisMaxLen = 100_000
)

// AcceptedSpecs names the spec forms Open accepts.
const AcceptedSpecs = `"memory" (default), "nats://[user:pass@]host:port[?stream=NAME&max_age=1h&storage=file|memory]" or "redis://[user:pass@]host:port[/db][?maxlen=N]"`

// ErrInvalidTopic is returned by Publish and Subscribe for a topic that is
// not [A-Za-z0-9_-]{1,128}.
var ErrInvalidTopic = errors.New("bus: invalid topic (want [A-Za-z0-9_-]{1,128})")

// CheckTopic reports whether topic is valid on every transport.
func CheckTopic(topic string) error {
	if len(topic) == 0 || len(topic) > 128 {
		return fmt.Errorf("%w: %q", ErrInvalidTopic, topic)
	}
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q", ErrInvalidTopic, topic)
		}
	}
	return nil
}

// PubSub is one node's connection to the bus: a publisher and a subscriber
// over the same transport. Every subscription receives every message
// published on its topic after it was made, in publish order (fan-out; no
// competing consumers between PubSub instances).
type PubSub struct {
	kind  string
	where string // the spec, credentials redacted
	pub   message.Publisher
	sub   message.Subscriber
	log   *slog.Logger

	closeOnce sync.Once
	closeErr  error
	close     func() error
}

// Publisher returns the publisher. Publish checks the topic (CheckTopic).
func (p *PubSub) Publisher() message.Publisher { return p.pub }

// Subscriber returns the subscriber. A subscription ends, and its channel is
// closed, when its context ends or the PubSub is closed.
func (p *PubSub) Subscriber() message.Subscriber { return p.sub }

// Kind is KindMemory, KindNATS or KindRedis.
func (p *PubSub) Kind() string { return p.kind }

// String is the spec with any password redacted.
func (p *PubSub) String() string { return p.where }

// Close ends every subscription (their channels are closed), closes the
// connections and waits for the transport's goroutines. It is idempotent.
func (p *PubSub) Close() error {
	p.closeOnce.Do(func() {
		p.closeErr = p.close()
		if p.closeErr != nil {
			p.closeErr = fmt.Errorf("bus: close %s: %w", p.where, p.closeErr)
		}
		p.log.Debug("bus closed", "kind", p.kind, "at", p.where)
	})
	return p.closeErr
}

// Open connects to the bus named by spec (see AcceptedSpecs); "" is
// "memory". The NATS stream is created when missing. ctx bounds the
// connection checks only.
func Open(ctx context.Context, spec string, log *slog.Logger) (*PubSub, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == KindMemory {
		return openMemory(log), nil
	}
	where := redactSpec(spec)
	u, err := url.Parse(spec)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // url.Error repeats the whole URL, password included
			err = ue.Err
		}
		return nil, fmt.Errorf("bus: malformed spec %q: %w; want %s", where, err, AcceptedSpecs)
	}
	var ps *PubSub
	switch u.Scheme {
	case "nats":
		ps, err = openNATS(ctx, u, where, log)
	case "redis", "rediss":
		ps, err = openRedis(ctx, u, where, log)
	default:
		return nil, fmt.Errorf("bus: unknown spec %q: want %s", where, AcceptedSpecs)
	}
	if err != nil {
		return nil, redactErr(fmt.Errorf("bus: %s: %w", where, err), u)
	}
	log.Info("bus open", "kind", ps.kind, "at", ps.where)
	return ps, nil
}

func openMemory(log *slog.Logger) *PubSub {
	wl := watermillLogger(log)
	gc := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, wl)
	log.Info("bus open", "kind", KindMemory)
	return &PubSub{
		kind:  KindMemory,
		where: KindMemory,
		pub:   checkedPublisher{gc},
		sub:   checkedSubscriber{Subscriber: gc, log: log},
		log:   log,
		close: gc.Close,
	}
}

// --- NATS JetStream ---

var streamNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func openNATS(ctx context.Context, u *url.URL, where string, log *slog.Logger) (*PubSub, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("missing host; want %s", AcceptedSpecs)
	}
	stream, maxAge, storage := DefaultNATSStream, DefaultNATSMaxAge, jetstream.FileStorage
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "stream":
			if !streamNameRE.MatchString(v) {
				return nil, fmt.Errorf("stream %q: want [A-Za-z0-9_-]{1,64}", v)
			}
			stream = v
		case "max_age":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("max_age %q: want a duration such as 1h (0 = keep forever)", v)
			}
			maxAge = d
		case "storage":
			switch v {
			case "file":
				storage = jetstream.FileStorage
			case "memory":
				storage = jetstream.MemoryStorage
			default:
				return nil, fmt.Errorf("storage %q: want file or memory", v)
			}
		default:
			return nil, fmt.Errorf("unknown option %q: want stream, max_age or storage", k)
		}
	}
	prefix := stream + "."
	server := (&url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host}).String()
	wl := watermillLogger(log)

	connect := func(name string, extra ...nats.Option) (*nats.Conn, error) {
		opts := append([]nats.Option{
			nats.Name("algoauto-bus-" + name),
			nats.MaxReconnects(-1),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil {
					log.Warn("bus: NATS disconnected", "conn", name, "at", where, "err", err)
				}
			}),
			nats.ReconnectHandler(func(*nats.Conn) { log.Info("bus: NATS reconnected", "conn", name, "at", where) }),
		}, extra...)
		nc, err := nats.Connect(server, opts...)
		if err != nil {
			return nil, fmt.Errorf("connect to NATS: %w", err)
		}
		return nc, nil
	}

	pubConn, err := connect("pub")
	if err != nil {
		return nil, err
	}
	if err := ensureStream(ctx, pubConn, stream, prefix, maxAge, storage, log); err != nil {
		pubConn.Close()
		return nil, err
	}
	subClosed := make(chan struct{})
	subConn, err := connect("sub", nats.ClosedHandler(func(*nats.Conn) { close(subClosed) }))
	if err != nil {
		pubConn.Close()
		return nil, err
	}

	calc := func(_, topic string) *wmnats.SubjectDetail { return &wmnats.SubjectDetail{Primary: prefix + topic} }
	pub, err := wmnats.NewPublisherWithNatsConn(pubConn, wmnats.PublisherPublishConfig{
		Marshaler:         subjectMarshaler{prefix: prefix},
		SubjectCalculator: calc,
	}, wl)
	if err != nil {
		pubConn.Close()
		subConn.Close()
		return nil, fmt.Errorf("NATS publisher: %w", err)
	}
	js, err := subConn.JetStream(nats.MaxWait(10 * time.Second)) // bounds creating a consumer
	if err != nil {
		pubConn.Close()
		subConn.Close()
		return nil, fmt.Errorf("NATS subscriber: JetStream: %w", err)
	}
	sub := &natsSubscriber{js: js, prefix: prefix, log: log, subs: map[*natsSub]struct{}{}}
	return &PubSub{
		kind:  KindNATS,
		where: where,
		pub:   checkedPublisher{pub},
		sub:   checkedSubscriber{Subscriber: sub, log: log},
		log:   log,
		close: func() error {
			// End every subscription (each waits for its callback to
			// return before closing its channel), then drain the
			// connection and wait for it to close, so no nats.go goroutine
			// outlives Close.
			err := sub.Close()
			if derr := subConn.Drain(); derr != nil && !errors.Is(derr, nats.ErrConnectionClosed) {
				err = errors.Join(err, fmt.Errorf("drain NATS subscriber connection: %w", derr))
			}
			select {
			case <-subClosed:
			case <-time.After(10 * time.Second):
				subConn.Close()
				err = errors.Join(err, errors.New("NATS subscriber connection did not drain in 10s"))
			}
			return errors.Join(err, pub.Close())
		},
	}, nil
}

// natsSubscriber gives every subscription its own JetStream ordered
// consumer (ephemeral, from new messages) on the subscriber connection.
// (watermill-nats's Subscriber closes its output channel while a nats.go
// callback may still be sending on it, a data race; here a subscription
// closes its channel only once its callback can no longer send.)
type natsSubscriber struct {
	js     nats.JetStreamContext
	prefix string
	log    *slog.Logger

	mu     sync.Mutex
	closed bool
	subs   map[*natsSub]struct{}
}

// natsSub is one subscription. The nats.go callback delivers one message
// at a time, waiting for its ack or nack (back-pressure, as watermill-nats
// does), and gives up when the subscription ends.
type natsSub struct {
	out  chan *message.Message
	done chan struct{} // closed when the subscription ends
	ctx  context.Context

	mu       sync.Mutex
	ended    bool
	inflight sync.WaitGroup // callbacks that may send on out
	endOnce  sync.Once
	nsub     *nats.Subscription
	stop     func() bool // stops the context.AfterFunc that ends the subscription
}

func (s *natsSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := CheckTopic(topic); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bus: subscribe %s: %w", topic, err)
	}
	ns := &natsSub{out: make(chan *message.Message), done: make(chan struct{}), ctx: ctx}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("bus: subscriber closed")
	}
	s.subs[ns] = struct{}{}
	s.mu.Unlock()
	nsub, err := s.js.Subscribe(s.prefix+topic, ns.deliver, nats.OrderedConsumer(), nats.DeliverNew())
	if err != nil {
		s.end(ns)
		return nil, fmt.Errorf("bus: subscribe %s: %w", topic, err)
	}
	ns.mu.Lock()
	if ns.ended { // Close came while subscribing
		ns.mu.Unlock()
		_ = nsub.Unsubscribe()
		return ns.out, nil
	}
	ns.nsub = nsub
	ns.stop = context.AfterFunc(ctx, func() { s.end(ns) })
	ns.mu.Unlock()
	return ns.out, nil
}

// natsAckWait bounds how long a subscription waits for a message's ack
// before delivering the next (watermill-nats's default AckWaitTimeout).
const natsAckWait = 30 * time.Second

// deliver is the nats.go callback.
func (ns *natsSub) deliver(m *nats.Msg) {
	ns.mu.Lock()
	if ns.ended {
		ns.mu.Unlock()
		return
	}
	ns.inflight.Add(1)
	ns.mu.Unlock()
	defer ns.inflight.Done()

	msg, _ := orderedUnmarshaler{}.Unmarshal(m)
	mctx, cancel := context.WithCancel(ns.ctx)
	defer cancel()
	msg.SetContext(mctx)
	select {
	case ns.out <- msg:
	case <-ns.done:
		return
	}
	ackWait := time.NewTimer(natsAckWait)
	defer ackWait.Stop()
	select {
	case <-msg.Acked():
	case <-msg.Nacked(): // ordered consumers take no acks: nothing to do
	case <-ackWait.C: // as watermill-nats: go on without the ack
	case <-ns.done:
	}
}

// end ends ns: no callback sends on its channel after end returns, and the
// channel is closed.
func (s *natsSubscriber) end(ns *natsSub) {
	ns.endOnce.Do(func() {
		ns.mu.Lock()
		ns.ended = true
		nsub, stop := ns.nsub, ns.stop
		ns.mu.Unlock()
		if stop != nil {
			stop()
		}
		close(ns.done)
		if nsub != nil {
			if err := nsub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
				s.log.Debug("bus: NATS unsubscribe", "subject", nsub.Subject, "err", err)
			}
		}
		ns.inflight.Wait() // a callback in progress sees done and returns
		close(ns.out)
		s.mu.Lock()
		delete(s.subs, ns)
		s.mu.Unlock()
	})
}

// Close ends every subscription. The connection is the PubSub's to close.
func (s *natsSubscriber) Close() error {
	s.mu.Lock()
	s.closed = true
	subs := make([]*natsSub, 0, len(s.subs))
	for ns := range s.subs {
		subs = append(subs, ns)
	}
	s.mu.Unlock()
	for _, ns := range subs {
		s.end(ns)
	}
	return nil
}

func ensureStream(ctx context.Context, nc *nats.Conn, name, prefix string, maxAge time.Duration, storage jetstream.StorageType, log *slog.Logger) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	want := prefix + ">"
	s, err := js.Stream(ctx, name)
	switch {
	case err == nil:
		for _, subj := range s.CachedInfo().Config.Subjects {
			if subj == want {
				return nil
			}
		}
		return fmt.Errorf("JetStream stream %s exists with subjects %v, without %q", name, s.CachedInfo().Config.Subjects, want)
	case errors.Is(err, jetstream.ErrStreamNotFound):
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        name,
			Description: "AlgoAuto bus: read-model updates for WebSocket hubs",
			Subjects:    []string{want},
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      maxAge,
			Storage:     storage,
		})
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create JetStream stream %s: %w", name, err)
		}
		log.Info("bus: created JetStream stream", "stream", name, "subjects", want, "max_age", maxAge, "storage", storage.String())
		return nil
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return fmt.Errorf("JetStream is not enabled on this server (start nats-server with -js): %w", err)
	default:
		return fmt.Errorf("look up JetStream stream %s: %w", name, err)
	}
}

// subjectMarshaler publishes topic T on subject prefix+T.
type subjectMarshaler struct{ prefix string }

func (m subjectMarshaler) Marshal(topic string, msg *message.Message) (*nats.Msg, error) {
	return (&wmnats.NATSMarshaler{}).Marshal(m.prefix+topic, msg)
}

// orderedUnmarshaler never fails (a message it cannot read becomes a
// malformed marker that SubscribeUpdates skips: a failed unmarshal would
// otherwise stall the subscription), and drops the reply subject: ordered
// consumers take no acks, so the adapter's ack becomes a no-op instead of an
// error per message.
type orderedUnmarshaler struct{}

func (orderedUnmarshaler) Unmarshal(m *nats.Msg) (msg *message.Message, err error) {
	m.Reply = ""
	defer func() {
		if r := recover(); r != nil {
			msg, err = malformed(fmt.Errorf("unmarshal panicked: %v", r)), nil
		}
	}()
	msg, err = (&wmnats.NATSMarshaler{}).Unmarshal(m)
	if err != nil {
		return malformed(err), nil
	}
	return msg, nil
}

// --- Redis Streams ---

func openRedis(ctx context.Context, u *url.URL, where string, log *slog.Logger) (*PubSub, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("missing host; want %s", AcceptedSpecs)
	}
	maxLen := int64(DefaultRedisMaxLen)
	q := u.Query()
	if v := q.Get("maxlen"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("maxlen %q: want a number of entries (0 = no trimming)", v)
		}
		maxLen = n
	}
	q.Del("maxlen")
	bare := *u
	bare.RawQuery = q.Encode()
	opts, err := redis.ParseURL(bare.String())
	if err != nil {
		return nil, err
	}
	client := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("connect to Redis: %w", err)
	}
	wl := watermillLogger(log)
	pub, err := redisstream.NewPublisher(redisstream.PublisherConfig{
		Client:        sharedRedis{Client: client, reads: &inflight{}},
		DefaultMaxlen: maxLen,
	}, wl)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("Redis publisher: %w", err)
	}
	gpub := &guardedPublisher{pub: pub}
	sub := &redisSubscriber{client: client, reads: &inflight{}, wl: wl, log: log, subs: map[*redisstream.Subscriber]redisSub{}}
	return &PubSub{
		kind:  KindRedis,
		where: where,
		pub:   checkedPublisher{gpub},
		sub:   sub,
		log:   log,
		close: func() error {
			return errors.Join(sub.Close(), gpub.Close(), client.Close())
		},
	}, nil
}

// guardedPublisher makes Publish and Close safe to call concurrently (the
// Redis adapter reads its closed flag without a lock); Close waits for the
// XADDs in flight.
type guardedPublisher struct {
	mu     sync.RWMutex
	closed bool
	pub    message.Publisher
}

func (g *guardedPublisher) Publish(topic string, msgs ...*message.Message) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return errors.New("bus: publisher closed")
	}
	return g.pub.Publish(topic, msgs...)
}

func (g *guardedPublisher) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	return g.pub.Close()
}

// sharedRedis lets several Watermill publishers and subscribers use one
// client (the PubSub closes the client itself, last) and counts the XREADs
// in flight: the adapter's Close does not wait for its reader goroutine, so
// the PubSub's Close waits for the reads instead.
type sharedRedis struct {
	*redis.Client
	reads *inflight
}

func (sharedRedis) Close() error { return nil }

func (c sharedRedis) XRead(ctx context.Context, a *redis.XReadArgs) *redis.XStreamSliceCmd {
	c.reads.enter()
	defer c.reads.exit()
	return c.Client.XRead(ctx, a)
}

// inflight counts calls in progress; idle is closed while there are none.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{}
}

func (f *inflight) enter() {
	f.mu.Lock()
	if f.n == 0 {
		f.idle = make(chan struct{})
	}
	f.n++
	f.mu.Unlock()
}

func (f *inflight) exit() {
	f.mu.Lock()
	if f.n--; f.n == 0 {
		close(f.idle)
	}
	f.mu.Unlock()
}

// wait reports whether no call was in progress within d.
func (f *inflight) wait(d time.Duration) bool {
	f.mu.Lock()
	if f.n == 0 {
		f.mu.Unlock()
		return true
	}
	idle := f.idle
	f.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-idle:
		return true
	case <-t.C:
		return false
	}
}

// redisSubscriber makes one Watermill fan-out subscriber per subscription,
// started at the stream's last entry as of Subscribe. (The adapter's own
// "$" start would re-read "$" after every empty XREAD, missing messages
// added between two reads until the first one arrives.)
type redisSubscriber struct {
	client *redis.Client
	reads  *inflight
	wl     watermill.LoggerAdapter
	log    *slog.Logger

	mu     sync.Mutex
	closed bool
	subs   map[*redisstream.Subscriber]redisSub
}

type redisSub struct {
	end  func()      // cancels the subscription's context, closes ws
	stop func() bool // stops the context.AfterFunc calling end
}

func (s *redisSubscriber) busLog() *slog.Logger { return s.log }

func (s *redisSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := CheckTopic(topic); err != nil {
		return nil, err
	}
	last, err := s.client.XRevRangeN(ctx, topic, "+", "-", 1).Result()
	if err != nil {
		return nil, fmt.Errorf("bus: subscribe %s: last entry: %w", topic, err)
	}
	start := "0-0" // no stream yet: everything that will be added is new
	if len(last) > 0 {
		start = last[0].ID
	}
	subCtx, cancel := context.WithCancel(ctx)
	ws, err := redisstream.NewSubscriber(redisstream.SubscriberConfig{
		Client:                        sharedRedis{Client: s.client, reads: s.reads},
		Unmarshaller:                  redisUnmarshaller{},
		FanOutOldestId:                start,
		BlockTime:                     100 * time.Millisecond, // also bounds how long Close waits for a blocked XREAD
		DisableIndefiniteInitialBlock: true,
		// Stop quietly when the subscription ends; on other errors (a Redis
		// restart) the adapter logs, waits 500ms and reads on from the last ID.
		ShouldStopOnReadErrors: func(err error) bool {
			return subCtx.Err() != nil || errors.Is(err, redis.ErrClosed)
		},
	}, s.wl)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("bus: subscribe %s: %w", topic, err)
	}
	end := func() {
		cancel()
		if err := ws.Close(); err != nil {
			s.log.Warn("bus: closing a Redis subscription", "topic", topic, "err", err)
		}
		s.forget(ws)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		return nil, errors.New("bus: subscriber closed")
	}
	s.subs[ws] = redisSub{end: end, stop: func() bool { return true }}
	s.mu.Unlock()
	out, err := ws.Subscribe(subCtx, topic)
	if err != nil {
		end()
		return nil, fmt.Errorf("bus: subscribe %s: %w", topic, err)
	}
	stop := context.AfterFunc(ctx, end)
	s.mu.Lock()
	if _, ok := s.subs[ws]; ok {
		s.subs[ws] = redisSub{end: end, stop: stop}
	}
	s.mu.Unlock()
	return out, nil
}

func (s *redisSubscriber) forget(ws *redisstream.Subscriber) {
	s.mu.Lock()
	delete(s.subs, ws)
	s.mu.Unlock()
}

func (s *redisSubscriber) Close() error {
	s.mu.Lock()
	s.closed = true
	subs := s.subs
	s.subs = map[*redisstream.Subscriber]redisSub{}
	s.mu.Unlock()
	for _, rs := range subs {
		rs.stop()
		rs.end()
	}
	// A reader blocked in XREAD returns within BlockTime.
	if !s.reads.wait(5 * time.Second) {
		return errors.New("Redis reads still in flight after 5s")
	}
	return nil
}

// redisUnmarshaller never fails: an entry without Watermill's fields (a
// stray XADD) becomes a malformed marker that SubscribeUpdates skips, where
// the adapter would otherwise end the subscription.
type redisUnmarshaller struct{}

func (redisUnmarshaller) Unmarshal(values map[string]any) (msg *message.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, err = malformed(fmt.Errorf("unmarshal panicked: %v", r)), nil
		}
	}()
	msg, err = redisstream.DefaultMarshallerUnmarshaller{}.Unmarshal(values)
	if err != nil {
		return malformed(err), nil
	}
	return msg, nil
}

// --- shared pieces ---

// metaMalformed marks a message the transport could not read.
const metaMalformed = "_algoauto_malformed"

func malformed(err error) *message.Message {
	m := message.NewMessage(watermill.NewUUID(), nil)
	m.Metadata.Set(metaMalformed, err.Error())
	return m
}

type checkedPublisher struct{ message.Publisher }

func (p checkedPublisher) Publish(topic string, msgs ...*message.Message) error {
	if err := CheckTopic(topic); err != nil {
		return err
	}
	return p.Publisher.Publish(topic, msgs...)
}

type checkedSubscriber struct {
	message.Subscriber
	log *slog.Logger
}

func (s checkedSubscriber) busLog() *slog.Logger { return s.log }

func (s checkedSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := CheckTopic(topic); err != nil {
		return nil, err
	}
	return s.Subscriber.Subscribe(ctx, topic)
}

// watermillLogger adapts log for Watermill: its Info lines (subscribing,
// closed...) become Debug, and the errors a closing subscription reports
// (context canceled, client closed) are Debug, not Error.
func watermillLogger(log *slog.Logger) watermill.LoggerAdapter {
	return quietLogger{watermill.NewSlogLoggerWithLevelMapping(log.With("component", "watermill"), map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug,
	})}
}

type quietLogger struct{ watermill.LoggerAdapter }

func (l quietLogger) Error(msg string, err error, fields watermill.LogFields) {
	if errors.Is(err, context.Canceled) || errors.Is(err, redis.ErrClosed) || errors.Is(err, nats.ErrConnectionClosed) {
		l.LoggerAdapter.Debug(msg, fields.Add(watermill.LogFields{"err": err}))
		return
	}
	l.LoggerAdapter.Error(msg, err, fields)
}

func (l quietLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return quietLogger{l.LoggerAdapter.With(fields)}
}

var userinfoRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*://)([^/@]*)@`)

// redactSpec hides the secrets of a spec, even one url.Parse rejects: the
// password, a user name given alone (NATS takes a token there) and query
// values whose names mention a password, token or secret.
func redactSpec(spec string) string {
	u, err := url.Parse(spec)
	if err != nil {
		return userinfoRE.ReplaceAllString(spec, "${1}xxxxx@")
	}
	r := *u
	if r.User != nil {
		if _, ok := r.User.Password(); ok {
			r.User = url.UserPassword(r.User.Username(), "xxxxx")
		} else {
			r.User = url.User("xxxxx")
		}
	}
	if r.RawQuery != "" {
		q := r.Query()
		for k := range q {
			if secretKey(k) {
				q.Set(k, "xxxxx")
			}
		}
		r.RawQuery = q.Encode()
	}
	return r.String()
}

func secretKey(k string) bool {
	k = strings.ToLower(k)
	return strings.Contains(k, "pass") || strings.Contains(k, "token") || strings.Contains(k, "secret")
}

// redactErr hides u's secrets (raw and escaped) in err's text; errors.Is
// and errors.As still see the original chain.
func redactErr(err error, u *url.URL) error {
	if u == nil {
		return err
	}
	var secrets []string
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			secrets = append(secrets, pw)
		} else {
			secrets = append(secrets, u.User.Username())
		}
	}
	for k, vs := range u.Query() {
		if secretKey(k) {
			secrets = append(secrets, vs...)
		}
	}
	s := err.Error()
	changed := false
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		for _, v := range []string{sec, url.QueryEscape(sec), url.PathEscape(sec)} {
			if strings.Contains(s, v) {
				s, changed = strings.ReplaceAll(s, v, "xxxxx"), true
			}
		}
	}
	if !changed {
		return err
	}
	return redactedError{msg: s, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }
