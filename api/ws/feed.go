package ws

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/algoauto/algoauto/adapters/bus"
	"github.com/algoauto/algoauto/eventstore"
)

// Subscriber is the part of the event log the feed follows.
type Subscriber interface {
	Subscribe(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error)
}

// Feed follows the log after position from and hands the updates of each
// run of events to out, in log order, until ctx ends. out is the bus
// publisher in `serve`; a hub's Dispatch in a single process or a test.
// An event that cannot be derived is logged and skipped (the events room
// and the read models report it too).
func Feed(ctx context.Context, log Subscriber, from eventstore.Position, d *Deriver, lg *slog.Logger, out func(context.Context, []bus.Update) error) error {
	sub, err := log.Subscribe(ctx, from, eventstore.Filter{})
	if err != nil {
		return fmt.Errorf("ws: feed: subscribe: %w", err)
	}
	defer sub.Close()
	var ups []bus.Update
	for {
		msg, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("ws: feed: %w", err)
		}
		ups = ups[:0]
		for i := range msg.Events {
			u, err := d.Derive(ctx, &msg.Events[i])
			if err != nil {
				lg.Warn("websocket feed: skipping an event", "position", msg.Events[i].Position, "err", err)
				continue
			}
			ups = append(ups, u...)
		}
		if len(ups) == 0 {
			continue
		}
		if err := out(ctx, ups); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("ws: feed: publish: %w", err)
		}
	}
}
