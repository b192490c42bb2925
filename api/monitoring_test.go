package api_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/algoauto/algoauto/api"
	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/monitoring"
)

func TestMonitoringRoutes(t *testing.T) {
	t.Parallel()
	mon := monitoring.New()
	log := slog.New(mon.Errors.LogHandler(slog.DiscardHandler))
	st := MustOpenStore(t)
	srv := api.NewServer(api.Config{Logger: log.With("component", "http"), Version: "test"},
		api.Deps{Events: st, Registry: codec.NewRegistry(), Monitor: mon, StoreKind: "embedded"})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	get(t, ts.URL+"/health")
	get(t, ts.URL+"/health")
	get(t, ts.URL+"/no/such/route")
	r := get(t, ts.URL+"/metrics")
	for _, want := range []string{
		`algoauto_http_request_duration_seconds_count{code="200",method="GET",route="GET /health"} 2`,
		`algoauto_http_request_duration_seconds_count{code="404",method="GET",route="unmatched"} 1`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	var sys struct {
		Version    string `json:"version"`
		Goroutines int    `json:"goroutines"`
		Memory     struct {
			HeapAlloc uint64 `json:"heap_alloc_bytes"`
		} `json:"memory"`
		Store struct {
			Kind      string `json:"kind"`
			Head      uint64 `json:"head"`
			DiskBytes int64  `json:"disk_bytes"`
		} `json:"store"`
	}
	get(t, ts.URL+"/api/v1/monitoring/system").decode(t, &sys)
	if sys.Version != "test" || sys.Goroutines == 0 || sys.Memory.HeapAlloc == 0 || sys.Store.Kind != "embedded" || sys.Store.DiskBytes == 0 {
		t.Fatalf("system: %+v", sys)
	}

	var db struct {
		Status string `json:"status"`
		Store  string `json:"store"`
	}
	if r := get(t, ts.URL+"/api/v1/db-health/check"); r.status != http.StatusOK {
		t.Fatalf("db health: %d %s", r.status, r.body)
	} else {
		r.decode(t, &db)
	}
	if db.Status != "ok" || db.Store != "embedded" {
		t.Fatalf("db health: %+v", db)
	}

	var mj struct {
		Metrics map[string][]struct {
			Labels map[string]string `json:"labels"`
			Count  *uint64           `json:"count"`
		} `json:"metrics"`
	}
	get(t, ts.URL+"/api/v1/monitoring/metrics?prefix=algoauto_http").decode(t, &mj)
	series := mj.Metrics["algoauto_http_request_duration_seconds"]
	if len(mj.Metrics) != 1 || len(series) < 2 {
		t.Fatalf("metrics JSON: %+v", mj)
	}

	// A failing store: 503 from db-health, and the warning in errors/recent.
	bad := api.NewServer(api.Config{Logger: log.With("component", "http")},
		api.Deps{Events: fakeReader{err: errors.New("connection refused")}, Registry: codec.NewRegistry(), Monitor: mon, StoreKind: "postgres"})
	bts := httptest.NewServer(bad.Handler())
	defer bts.Close()
	r = get(t, bts.URL+"/api/v1/db-health/check")
	wantError(t, r, http.StatusServiceUnavailable, "unavailable", "connection refused")
	var down struct {
		Status string `json:"status"`
		Store  string `json:"store"`
	}
	if r.decode(t, &down); down.Status != "unavailable" || down.Store != "postgres" {
		t.Fatalf("db health of a failing store: %s", r.body)
	}
	var recent struct {
		Errors []monitoring.ErrorEntry `json:"errors"`
		Total  int64                   `json:"total"`
	}
	get(t, ts.URL+"/api/v1/errors/recent?limit=5").decode(t, &recent)
	if recent.Total < 1 || recent.Errors[0].Message != "db health check failed" || recent.Errors[0].Component != "http" {
		t.Fatalf("recent errors: %+v", recent)
	}
	wantError(t, get(t, ts.URL+"/api/v1/errors/recent?limit=x"), http.StatusBadRequest, "invalid", "limit")
}
