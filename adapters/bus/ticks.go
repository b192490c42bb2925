// Package bus is AlgoAuto's message backbone, built on Watermill. TickBus
// carries batches of ticks from feed adapters to their consumer (the
// recorder) through a Watermill router over an in-process GoChannel, in the
// codec's tick-batch form.
//
// Contract: Publish blocks until the consumer has handled the batch (the
// GoChannel is configured with BlockPublishUntilSubscriberAck), so a slow
// consumer back-pressures the feed instead of queueing without bound; the
// consumer decides whether to wait or to drop (see engine/ingest). One
// Watermill message carries a whole batch (length-prefixed binary ticks), so
// the per-message cost of the router is paid per batch, not per tick, and
// the consumer can store each tick's encoding without encoding it again.
// Publish before Run has started fails rather than losing messages.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/google/uuid"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// TopicTicks is the topic tick batches travel on.
const TopicTicks = "ticks"

// HandlerRecorder is the stable name of the recorder's handler.
const HandlerRecorder = "recorder"

// TickHandler consumes one batch in the codec's tick-batch form (see
// codec.ForEachTick); it may retain the bytes.
type TickHandler func(ctx context.Context, batch []byte) error

// TickBus is a Watermill router with one tick topic and one consumer.
type TickBus struct {
	pubsub *gochannel.GoChannel
	router *message.Router
	log    *slog.Logger
}

// NewTickBus wires handler to the ticks topic.
func NewTickBus(logger *slog.Logger, handler TickHandler) (*TickBus, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Watermill's Info lines (handler added, router closed...) are Debug here.
	wl := watermill.NewSlogLoggerWithLevelMapping(logger.With("component", "watermill"), map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug,
	})
	ps := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 1, BlockPublishUntilSubscriberAck: true}, wl)
	router, err := message.NewRouter(message.RouterConfig{}, wl)
	if err != nil {
		return nil, fmt.Errorf("bus: router: %w", err)
	}
	router.AddMiddleware(middleware.Recoverer)
	b := &TickBus{pubsub: ps, router: router, log: logger}
	router.AddConsumerHandler(HandlerRecorder, TopicTicks, ps, func(msg *message.Message) error {
		return handler(msg.Context(), msg.Payload)
	})
	return b, nil
}

// Run runs the router until ctx is done or Close is called.
func (b *TickBus) Run(ctx context.Context) error { return b.router.Run(ctx) }

// Running is closed once the router is ready to deliver.
func (b *TickBus) Running() <-chan struct{} { return b.router.Running() }

// ErrNotRunning is returned by Publish before the router runs.
var ErrNotRunning = errors.New("bus: router is not running")

// Publish sends a batch and waits until the handler has taken it.
func (b *TickBus) Publish(ctx context.Context, ticks []domain.Tick) error {
	if len(ticks) == 0 {
		return nil
	}
	if !b.router.IsRunning() {
		return ErrNotRunning
	}
	payload, err := codec.AppendTickBatch(make([]byte, 0, 80*len(ticks)), ticks)
	if err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	msg := message.NewMessage(uuid.Must(uuid.NewV7()).String(), payload)
	msg.SetContext(ctx)
	if err := b.pubsub.Publish(TopicTicks, msg); err != nil {
		return fmt.Errorf("bus: publish %d ticks: %w", len(ticks), err)
	}
	return nil
}

// Close stops the router and the pub/sub.
func (b *TickBus) Close() error {
	return errors.Join(b.router.Close(), b.pubsub.Close())
}
