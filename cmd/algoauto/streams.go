package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/algoauto/algoauto/adapters/bus"
	"github.com/algoauto/algoauto/api"
	"github.com/algoauto/algoauto/api/auth"
	"github.com/algoauto/algoauto/api/ws"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/engine"
	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/monitoring"
	"github.com/algoauto/algoauto/projections"
)

// streams is the live path to WebSocket clients: a feed that follows the
// log and publishes room updates on the bus, and the hub that consumes
// them. With a shared bus (NATS, Redis) every node's hub sees every node's
// updates; the hub drops duplicates by position.
type streams struct {
	hub    *ws.Hub
	ps     *bus.PubSub
	cancel context.CancelFunc
	wg     sync.WaitGroup
	engine atomic.Pointer[engine.Engine] // COMMANDs go here once it runs
}

// command runs a WebSocket COMMAND with the engine, as the socket's user.
func (s *streams) command(ctx context.Context, id ws.Identity, c ws.Command) (any, error) {
	eng := s.engine.Load()
	if eng == nil {
		return nil, &domain.CommandError{Code: domain.CodeConflict, Message: "the trading engine is starting"}
	}
	a := engine.Actor{User: id.Username, Admin: id.Admin, Trader: id.Admin || id.Role == string(domain.RoleTrader), CanSee: id.CanSee}
	acct := c.Account
	if acct == "" {
		acct = domain.PaperAccount(id.Username)
	}
	var (
		st  engine.ControlStatus
		err error
	)
	switch c.Name {
	case "start", "stop", "pause", "resume":
		st, err = eng.Command(ctx, a, acct, engine.ControlCommand(c.Name), c.Reason, c.Flatten)
	case "kill":
		st, err = eng.Kill(ctx, a, acct, c.Reason)
	case "reset-kill":
		st, err = eng.ResetKill(ctx, a, acct, c.Confirm, c.Reason)
	case "paper":
		st, err = eng.SetMode(ctx, a, acct, domain.Paper, c.Confirm)
	case "live":
		st, err = eng.SetMode(ctx, a, acct, domain.Live, c.Confirm)
	default:
		return nil, &domain.CommandError{Code: domain.CodeInvalid, Field: "command",
			Message: fmt.Sprintf("unknown command %q: want start, stop, pause, resume, kill, reset-kill, paper or live", c.Name)}
	}
	if err != nil {
		return nil, err
	}
	return api.ControlView(st), nil
}

type streamsConfig struct {
	Bus         string
	Origins     []string
	BatchWindow time.Duration
}

func startStreams(ctx context.Context, cfg streamsConfig, st eventstore.Store, reg *codec.Registry, runner *projections.Runner,
	authenticate func(*http.Request) (ws.Identity, error), mon *monitoring.Monitor, log *slog.Logger) (*streams, error) {
	ps, err := bus.Open(ctx, cfg.Bus, log.With("component", "bus"))
	if err != nil {
		return nil, configErr(fmt.Errorf("--bus: %w", err))
	}
	head, err := st.Head(ctx)
	if err != nil {
		_ = ps.Close()
		return nil, err
	}
	d := ws.NewDeriver(reg, st)
	window := cfg.BatchWindow
	if window <= 0 { // --ws-batch 0: send as soon as the hub is free
		window = -1
	}
	s := &streams{ps: ps}
	hub := ws.NewHub(ws.Config{Logger: log.With("component", "ws"), AllowedOrigins: cfg.Origins, BatchWindow: window},
		ws.Deps{Authenticate: authenticate, Log: st, Deriver: d, Snapshot: ws.NewSnapshots(runner).Snapshot, Command: s.command})
	s.hub = hub
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	updates, err := bus.SubscribeUpdates(sctx, ps.Subscriber(), bus.UpdatesTopic)
	if err != nil {
		cancel()
		_ = ps.Close()
		return nil, fmt.Errorf("bus: subscribe: %w", err)
	}
	s.cancel = cancel
	s.wg.Go(func() { _ = hub.Run(sctx, updates) })
	s.wg.Go(func() {
		for sctx.Err() == nil {
			err := ws.Feed(sctx, st, head, d, log, func(ctx context.Context, ups []bus.Update) error {
				return bus.PublishUpdates(ctx, ps.Publisher(), bus.UpdatesTopic, ups...)
			})
			if err == nil || sctx.Err() != nil {
				return
			}
			log.Warn("websocket feed stopped; restarting from the log head", "err", err)
			select {
			case <-sctx.Done():
			case <-time.After(time.Second):
			}
			if h, err := st.Head(sctx); err == nil {
				head = h // clients resume the missed part from the log
			}
		}
	})
	mon.Gauge("algoauto_ws_clients", "Open WebSocket connections.", func() float64 { return float64(hub.Stats().Clients) })
	mon.Counter("algoauto_ws_messages_out_total", "WebSocket messages written to clients.", func() float64 { return float64(hub.Stats().MessagesOut) })
	mon.Counter("algoauto_ws_items_out_total", "Room changes delivered to WebSocket clients (an UPDATE carries several).", func() float64 { return float64(hub.Stats().ItemsOut) })
	mon.Counter("algoauto_ws_slow_closed_total", "WebSocket clients closed for not keeping up.", func() float64 { return float64(hub.Stats().SlowClosed) })
	log.Info("websocket hub ready", "bus", ps.String())
	return s, nil
}

// stop closes every client (1001), then the bus (which releases a feed
// blocked in a publish), then waits for the feed and the hub.
func (s *streams) stop(log *slog.Logger) {
	s.hub.Close()
	s.cancel()
	if err := s.ps.Close(); err != nil {
		log.Warn("closing the bus", "err", err)
	}
	s.wg.Wait()
}

// wsIdentity authenticates WebSocket upgrades with the auth service (the
// Authorization header, or the access_token query parameter browsers use).
func wsIdentity(svc *auth.Service) func(*http.Request) (ws.Identity, error) {
	return func(r *http.Request) (ws.Identity, error) {
		p, err := svc.Authenticate(r)
		if err != nil {
			return ws.Identity{}, err
		}
		return ws.Identity{UserID: p.UserID, Username: p.Username, Role: string(p.Role), Admin: p.AllAccounts, Accounts: p.Accounts}, nil
	}
}
