package monitoring_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/algoauto/algoauto/eventstore"
	"github.com/algoauto/algoauto/eventstore/embedded"
	"github.com/algoauto/algoauto/monitoring"
)

func TestErrorRing(t *testing.T) {
	r := monitoring.NewErrorRing(3)
	if got, total := r.Recent(10); len(got) != 0 || total != 0 {
		t.Fatalf("empty ring: %v %d", got, total)
	}
	for i, m := range []string{"a", "b", "c", "d", "e"} {
		r.Add(monitoring.ErrorEntry{Time: time.Unix(int64(i), 0), Message: m})
	}
	got, total := r.Recent(10)
	if total != 5 || len(got) != 3 || got[0].Message != "e" || got[2].Message != "c" {
		t.Fatalf("ring after 5 adds: total %d, %+v", total, got)
	}
	if got, _ := r.Recent(1); len(got) != 1 || got[0].Message != "e" {
		t.Fatalf("limit 1: %+v", got)
	}
}

func TestLogHandlerFeedsRingAndCounter(t *testing.T) {
	m := monitoring.New()
	var out strings.Builder
	log := slog.New(m.Errors.LogHandler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelError})))
	rec := log.With("component", "recorder")
	rec.Info("fine")
	rec.Warn("append failed", "err", "disk full")
	log.Error("boom")
	got, total := m.Errors.Recent(0)
	if total != 2 || got[0].Message != "boom" || got[1].Component != "recorder" || got[1].Level != "WARN" || got[1].Attrs["err"] != "disk full" {
		t.Fatalf("ring: total %d %+v", total, got)
	}
	// The wrapped handler still filters at its own level.
	if strings.Contains(out.String(), "append failed") || !strings.Contains(out.String(), "boom") {
		t.Fatalf("underlying handler output: %q", out.String())
	}
	want := `
# HELP algoauto_log_errors_total Log records at warn level or above, by level and component.
# TYPE algoauto_log_errors_total counter
algoauto_log_errors_total{component="",level="ERROR"} 1
algoauto_log_errors_total{component="recorder",level="WARN"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "algoauto_log_errors_total"); err != nil {
		t.Fatal(err)
	}
}

func TestInstrumentedStoreAndMiddleware(t *testing.T) {
	m := monitoring.New()
	st, err := embedded.Open(context.Background(), embedded.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ist := m.InstrumentStore(st)
	ev := func() eventstore.EventData {
		return eventstore.EventData{ID: uuid.New(), Type: "Note", Data: []byte(`{}`)}
	}
	for range 3 {
		if _, err := ist.Append(context.Background(), "order-1", eventstore.Any(), ev(), ev()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ist.Append(context.Background(), "order-1", eventstore.NoStream()); err == nil {
		t.Fatal("conflicting append succeeded")
	}
	want := `
# HELP algoauto_store_appended_events_total Events acknowledged by the event store, by stream category.
# TYPE algoauto_store_appended_events_total counter
algoauto_store_appended_events_total{category="order"} 6
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "algoauto_store_appended_events_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.Registry(), "algoauto_store_append_duration_seconds"); n != 2 {
		t.Fatalf("append duration series: %d, want ok and error", n)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /x/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := m.Middleware(mux, func(r *http.Request) string { _, p := mux.Handler(r); return p })
	for _, path := range []string{"/x/1", "/x/2", "/nope"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`algoauto_http_request_duration_seconds_count{code="418",method="GET",route="GET /x/{id}"} 2`,
		`algoauto_http_request_duration_seconds_count{code="404",method="GET",route="unmatched"} 1`,
		`go_goroutines`, `process_resident_memory_bytes`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
