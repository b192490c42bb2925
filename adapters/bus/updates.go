package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
)

// Update is one change of a read model for WebSocket rooms.
type Update struct {
	Room     string          `json:"room"`              // e.g. "orders", "market:NSE:NIFTY26DECFUT", "events"
	Account  string          `json:"account,omitempty"` // "" = visible to every user
	Position uint64          `json:"position"`          // global log position this change reflects
	Kind     string          `json:"kind,omitempty"`    // e.g. the event type
	Key      string          `json:"key,omitempty"`     // conflation key (symbol, order id)
	Data     json.RawMessage `json:"data"`
}

// UpdatesTopic is the topic read-model updates travel on. It has no dots:
// a valid topic on every transport (see CheckTopic).
const UpdatesTopic = "algoauto_updates"

// MetadataPosition is the message metadata key holding the position of
// the last update in the message, in decimal, and MetadataCount the number
// of updates in it: readable without decoding the payload.
const (
	MetadataPosition = "position"
	MetadataCount    = "count"
)

// Batching limits of PublishUpdates: a message carries at most this many
// updates and, past the first update, at most this many payload bytes
// (NATS refuses payloads over 1 MiB by default).
const (
	MaxUpdatesPerMessage = 256
	MaxMessageBytes      = 256 << 10
)

// PublishUpdates publishes ups in order. Consecutive updates share a
// Watermill message, up to MaxUpdatesPerMessage updates and MaxMessageBytes
// (an update larger than that travels alone), so a page of updates costs
// one broker round trip, not one per update: the payload is a JSON array of
// updates, the message id a UUIDv7, the metadata MetadataPosition and
// MetadataCount. Nothing is held back for later: each call sends what it
// was given. All messages go to one Publish call, in order. An update
// without a room, or with Data that is not JSON, is refused before anything
// is sent. On a transport error a prefix of the messages may have been
// published. ctx is the messages' context (Redis honours it for each XADD).
func PublishUpdates(ctx context.Context, pub message.Publisher, topic string, ups ...Update) error {
	if len(ups) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bus: publish updates: %w", err)
	}
	var msgs []*message.Message
	payload := make([]byte, 0, 1024)
	n, last := 0, uint64(0)
	flush := func() {
		m := message.NewMessage(uuid.Must(uuid.NewV7()).String(), append(payload, ']'))
		m.Metadata.Set(MetadataPosition, strconv.FormatUint(last, 10))
		m.Metadata.Set(MetadataCount, strconv.Itoa(n))
		m.SetContext(ctx)
		msgs = append(msgs, m)
		payload, n = make([]byte, 0, 1024), 0
	}
	for i := range ups {
		u := &ups[i]
		if u.Room == "" {
			return fmt.Errorf("bus: update %d (position %d): empty room", i, u.Position)
		}
		enc, err := json.Marshal(u)
		if err != nil {
			return fmt.Errorf("bus: update %d (room %s, position %d): %w", i, u.Room, u.Position, err)
		}
		if n > 0 && (n == MaxUpdatesPerMessage || len(payload)+1+len(enc)+1 > MaxMessageBytes) {
			flush()
		}
		if n == 0 {
			payload = append(payload, '[')
		} else {
			payload = append(payload, ',')
		}
		payload = append(payload, enc...)
		n, last = n+1, u.Position
	}
	flush()
	if err := pub.Publish(topic, msgs...); err != nil {
		return fmt.Errorf("bus: publish %d updates to %s: %w", len(ups), topic, err)
	}
	return nil
}

// updatesBuffer is how many decoded updates a subscription holds for a
// reader that is busy; past it the transport waits (memory: the publisher
// waits; NATS: flow control; Redis: reading pauses).
const updatesBuffer = 64

// SubscribeUpdates subscribes to topic and decodes each message into its
// updates, delivered in the order the transport delivers the messages and
// in array order within one. A message is acked once all its updates are in
// the channel. What does not decode is logged (Warn) and skipped: a whole
// message that is not an update or an array, or single elements of an array
// that are not updates (no room, wrong types), so the others still arrive;
// nothing undecodable ends the subscription. The channel is closed when ctx
// ends or the subscriber is closed. Logs go to the PubSub's logger when sub
// comes from a PubSub, else to slog.Default().
func SubscribeUpdates(ctx context.Context, sub message.Subscriber, topic string) (<-chan Update, error) {
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("bus: subscribe updates on %s: %w", topic, err)
	}
	log := slog.Default()
	if l, ok := sub.(interface{ busLog() *slog.Logger }); ok {
		log = l.busLog()
	}
	out := make(chan Update, updatesBuffer)
	go func() {
		defer close(out)
		for {
			var msg *message.Message
			var ok bool
			select {
			case msg, ok = <-msgs:
				if !ok {
					return
				}
			case <-ctx.Done():
				return
			}
			ups, err := DecodeUpdates(msg)
			if err != nil {
				log.Warn("bus: skipping undecodable update", "topic", topic, "message_uuid", msg.UUID, "bytes", len(msg.Payload), "updates_kept", len(ups), "err", err)
			}
			for _, u := range ups {
				select {
				case out <- u:
				case <-ctx.Done():
					msg.Nack()
					return
				}
			}
			msg.Ack()
		}
	}()
	return out, nil
}

// ErrBadUpdate wraps every DecodeUpdates error.
var ErrBadUpdate = errors.New("bus: not an update")

// DecodeUpdates decodes a message published by PublishUpdates: a JSON array
// of updates (or a single update object). Elements that are not updates
// with a room are left out and reported in the error, alongside the updates
// that did decode.
func DecodeUpdates(msg *message.Message) ([]Update, error) {
	if reason := msg.Metadata.Get(metaMalformed); reason != "" {
		return nil, fmt.Errorf("%w: transport could not read the message: %s", ErrBadUpdate, reason)
	}
	p := bytes.TrimLeft(msg.Payload, " \t\r\n")
	if len(p) > 0 && p[0] == '{' {
		u, err := decodeOne(p)
		if err != nil {
			return nil, err
		}
		return []Update{u}, nil
	}
	// Fast path: the whole array at once; the element-wise path below only
	// for arrays with bad elements.
	var ups []Update
	if err := json.Unmarshal(p, &ups); err == nil && ups != nil {
		ok := true
		for i := range ups {
			ok = ok && ups[i].Room != ""
		}
		if ok {
			return ups, nil
		}
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(p, &raw); err != nil || raw == nil {
		if err == nil {
			err = errors.New("null")
		}
		return nil, fmt.Errorf("%w: %v", ErrBadUpdate, err)
	}
	ups = make([]Update, 0, len(raw))
	var errs []error
	for i, r := range raw {
		u, err := decodeOne(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("element %d: %w", i, err))
			continue
		}
		ups = append(ups, u)
	}
	return ups, errors.Join(errs...)
}

func decodeOne(p []byte) (Update, error) {
	var u Update
	if err := json.Unmarshal(p, &u); err != nil {
		return Update{}, fmt.Errorf("%w: %v", ErrBadUpdate, err)
	}
	if u.Room == "" {
		return Update{}, fmt.Errorf("%w: no room", ErrBadUpdate)
	}
	return u, nil
}
