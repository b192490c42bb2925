package codec_test

import (
	"encoding/json"
	"testing"

	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore/codec"
)

// BenchmarkTickCodec is E1 of PERFORMANCE.md §9: the binary tick codec with
// its anchor, encoding/json v1 on the same domain.Tick, measured in the same
// run. The json sub-benchmarks run first; the binary ones then report
// "x-faster-than-json" (json ns/op ÷ binary ns/op; the E1 gate is decode
// >= 2). Run it as
//
//	GOMAXPROCS=2 go test -run '^$' -bench '^BenchmarkTickCodec$' -benchmem -count 5 ./eventstore/codec/
//
// A -bench pattern that skips the json sub-benchmarks skips the ratio.
func BenchmarkTickCodec(b *testing.B) {
	tick := niftyFuture()
	bin, err := codec.AppendTick(nil, &tick)
	if err != nil {
		b.Fatal(err)
	}
	js, err := json.Marshal(tick)
	if err != nil {
		b.Fatal(err)
	}
	var jsonEncodeNs, jsonDecodeNs float64

	b.Run("json-encode", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		n := 0
		for b.Loop() {
			if _, err := json.Marshal(&tick); err != nil {
				b.Fatal(err)
			}
			n++
		}
		jsonEncodeNs = nsPerOp(b, n)
	})
	b.Run("json-decode", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		n := 0
		for b.Loop() {
			var t domain.Tick
			if err := json.Unmarshal(js, &t); err != nil {
				b.Fatal(err)
			}
			n++
		}
		jsonDecodeNs = nsPerOp(b, n)
	})
	b.Run("binary-encode", func(b *testing.B) {
		b.SetBytes(int64(len(bin)))
		buf := make([]byte, 0, 128)
		n := 0
		for b.Loop() {
			var err error
			if buf, err = codec.AppendTick(buf[:0], &tick); err != nil {
				b.Fatal(err)
			}
			n++
		}
		reportRatio(b, jsonEncodeNs, nsPerOp(b, n))
	})
	b.Run("binary-decode", func(b *testing.B) {
		b.SetBytes(int64(len(bin)))
		var d codec.TickDecoder
		var t domain.Tick
		n := 0
		for b.Loop() {
			if err := d.Decode(bin, &t); err != nil {
				b.Fatal(err)
			}
			n++
		}
		reportRatio(b, jsonDecodeNs, nsPerOp(b, n))
	})
}

func nsPerOp(b *testing.B, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(b.Elapsed().Nanoseconds()) / float64(n)
}

func reportRatio(b *testing.B, jsonNs, binNs float64) {
	if jsonNs > 0 && binNs > 0 {
		b.ReportMetric(jsonNs/binNs, "x-faster-than-json")
	}
}
