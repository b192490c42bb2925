package eventstore_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/algoauto/algoauto/eventstore"
)

func TestParseFilter(t *testing.T) {
	cases := []struct {
		stream string
		types  []string
		want   eventstore.Filter
	}{
		{"", nil, eventstore.Filter{}},
		{"ticks-NIFTY", nil, eventstore.Filter{Stream: "ticks-NIFTY"}},
		{"ticks-*", nil, eventstore.Filter{StreamPrefix: "ticks-"}},
		{"*", nil, eventstore.Filter{}},
		{"", []string{"TickReceived, FeedGap", "", " OrderPlaced "}, eventstore.Filter{Types: []string{"TickReceived", "FeedGap", "OrderPlaced"}}},
	}
	for _, c := range cases {
		got, err := eventstore.ParseFilter(c.stream, c.types...)
		if err != nil {
			t.Fatalf("ParseFilter(%q, %q): %v", c.stream, c.types, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseFilter(%q, %q) = %+v, want %+v", c.stream, c.types, got, c.want)
		}
	}
	if _, err := eventstore.ParseFilter("$all"); !errors.Is(err, eventstore.ErrInvalidStream) {
		t.Errorf("ParseFilter($all): err = %v, want ErrInvalidStream", err)
	}
}

func TestSearchPosition(t *testing.T) {
	base := time.Date(2026, 11, 20, 9, 15, 0, 0, time.UTC)
	// Positions 1..10; several events share a timestamp (0,0,1,1,1,5,5,7,9,9 seconds).
	secs := []int{0, 0, 1, 1, 1, 5, 5, 7, 9, 9}
	calls := 0
	at := func(_ context.Context, p eventstore.Position) (time.Time, error) {
		calls++
		if p < 1 || int(p) > len(secs) {
			t.Fatalf("recordedAt(%d) outside [1, %d]", p, len(secs))
		}
		return base.Add(time.Duration(secs[p-1]) * time.Second), nil
	}
	for s := -1; s <= 10; s++ {
		want, wantOK := eventstore.Position(0), false
		for i, v := range secs {
			if v >= s {
				want, wantOK = eventstore.Position(i+1), true
				break
			}
		}
		calls = 0
		got, ok, err := eventstore.SearchPosition(context.Background(), eventstore.Position(len(secs)), base.Add(time.Duration(s)*time.Second), at)
		if err != nil || got != want || ok != wantOK {
			t.Errorf("t=+%ds: got (%d, %v, %v), want (%d, %v, nil)", s, got, ok, err, want, wantOK)
		}
		if calls > 5 { // ceil(log2(11)) + 1
			t.Errorf("t=+%ds: %d lookups, want a binary search", s, calls)
		}
	}
	if _, ok, err := eventstore.SearchPosition(context.Background(), 0, base, at); ok || err != nil {
		t.Errorf("empty log: ok=%v err=%v, want false, nil", ok, err)
	}
	boom := errors.New("boom")
	if _, _, err := eventstore.SearchPosition(context.Background(), 10, base, func(context.Context, eventstore.Position) (time.Time, error) {
		return time.Time{}, boom
	}); !errors.Is(err, boom) {
		t.Errorf("lookup error not returned: %v", err)
	}
}
