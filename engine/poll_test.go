package engine_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine"
)

// pollingBroker is a broker whose executions come only from Poll, as a
// live REST broker's: it queues what the test says happened.
type pollingBroker struct {
	*fakeBroker
	mu     sync.Mutex
	queued []domain.ExecutionReport
	err    error
	polls  int
}

func (b *pollingBroker) Poll(context.Context) ([]domain.ExecutionReport, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.polls++
	if b.err != nil {
		return nil, b.err
	}
	out := b.queued
	b.queued = nil
	return out, nil
}

func (b *pollingBroker) report(rs ...domain.ExecutionReport) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queued = append(b.queued, rs...)
}

// startPolling starts a running engine whose broker reports executions
// only by polling, with trading started and a fresh NIFTY26DECFUT quote.
func startPolling(t *testing.T) (*rig, *engine.Engine, *pollingBroker) {
	t.Helper()
	r := newRig(t)
	pb := &pollingBroker{fakeBroker: newFakeBroker()}
	// Only the Broker and Poller methods: not a tick filler.
	var b engine.Broker = struct {
		engine.Broker
		engine.Poller
	}{pb, pb}
	e := r.engineWith(b)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	mustCmd(t, e, trader, engine.CmdStart)
	r.quote(e, "NIFTY26DECFUT")
	return r, e, pb
}

// TestPollingBroker: executions a broker reports by polling are recorded
// once each, however often they are repeated; a rejection of an order that
// was filled meanwhile is ignored; a failing poll records nothing and
// loses nothing.
func TestPollingBroker(t *testing.T) {
	r, e, pb := startPolling(t)
	ctx := context.Background()
	res, err := e.PlaceOrder(ctx, trader, buy(130))
	if err != nil || res.Status != "open" {
		t.Fatalf("place: %+v %v", res, err)
	}
	fill := func(trade string, q, cum int64) domain.ExecutionReport {
		return domain.ExecutionReport{Kind: domain.ReportFilled, ClientOrderID: res.OrderID, BrokerOrderID: res.BrokerOrderID,
			TradeID: trade, Quantity: q, Price: domain.Rupees(24000), FilledQty: cum}
	}
	pb.mu.Lock()
	pb.err = fmt.Errorf("503 from the broker")
	pb.mu.Unlock()
	pb.report(fill("T1", 65, 65))
	e.PollBrokers(ctx)
	if got := r.streamTypes(domain.OrderStream(res.OrderID)); len(got) != 3 {
		t.Fatalf("a failed poll recorded %v", got)
	}
	pb.mu.Lock()
	pb.err = nil
	pb.mu.Unlock()
	e.PollBrokers(ctx)                                 // T1
	pb.report(fill("T1", 65, 65), fill("T2", 65, 130)) // a repeat and the rest
	e.PollBrokers(ctx)                                 //
	pb.report(fill("T2", 65, 130), domain.ExecutionReport{Kind: domain.ReportRejected, ClientOrderID: res.OrderID, Reason: "late news"})
	e.PollBrokers(ctx)
	want := "[OrderIntentRecorded OrderSubmitted OrderAccepted OrderFilled OrderFilled]"
	if got := fmt.Sprint(r.streamTypes(domain.OrderStream(res.OrderID))); got != want {
		t.Fatalf("order stream %s, want %s", got, want)
	}
	if qty, _ := engine.Position(e, "paper-asha", "NFO:NIFTY26DECFUT"); qty != 130 {
		t.Fatalf("position %d after polled fills, want 130", qty)
	}
	if pb.polls != 4 {
		t.Fatalf("%d polls, want 4", pb.polls)
	}
}

// TestPollingBrokerKeepsUnrecordedReports: a report the broker gave once
// is not given again, so one the engine could not record (here: the
// context ended) is recorded at the next poll.
func TestPollingBrokerKeepsUnrecordedReports(t *testing.T) {
	r, e, pb := startPolling(t)
	ctx := context.Background()
	res, err := e.PlaceOrder(ctx, trader, buy(65))
	if err != nil {
		t.Fatal(err)
	}
	pb.report(domain.ExecutionReport{Kind: domain.ReportFilled, ClientOrderID: res.OrderID, BrokerOrderID: res.BrokerOrderID,
		TradeID: "T1", Quantity: 65, Price: domain.Rupees(24000), FilledQty: 65})
	dead, kill := context.WithCancel(ctx)
	kill()
	e.PollBrokers(dead)
	if got := r.streamTypes(domain.OrderStream(res.OrderID)); len(got) != 3 {
		t.Fatalf("recorded with an ended context: %v", got)
	}
	e.PollBrokers(ctx) // the broker has nothing new; the kept fill is recorded
	want := "[OrderIntentRecorded OrderSubmitted OrderAccepted OrderFilled]"
	if got := fmt.Sprint(r.streamTypes(domain.OrderStream(res.OrderID))); got != want {
		t.Fatalf("order stream %s, want %s", got, want)
	}
}
