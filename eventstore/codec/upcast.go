package codec

import (
	"encoding/json"
	"fmt"
	"strings"
)

// upcastSignalRaisedV1 reads SignalRaised version 1, as the original Python
// service wrote it: {"signal_id","source","strategy","account",
// "symbol":"NFO:NIFTY26NOVFUT","action":"BUY","qty":75,"price":...,
// "reason","raised_at"}. Version 2 splits the exchange out of the symbol and
// renames action to side and qty to quantity. A v1 symbol without an
// exchange prefix was an NFO contract.
func upcastSignalRaisedV1(data []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("SignalRaised v1: %w", err)
	}
	if raw, ok := m["symbol"]; ok {
		var sym string
		if err := json.Unmarshal(raw, &sym); err != nil {
			return nil, fmt.Errorf("SignalRaised v1 symbol: %w", err)
		}
		exch, bare, found := strings.Cut(sym, ":")
		if !found {
			exch, bare = "NFO", sym
		}
		m["exchange"], _ = json.Marshal(exch)
		m["symbol"], _ = json.Marshal(bare)
	}
	if raw, ok := m["action"]; ok {
		m["side"] = raw
		delete(m, "action")
	}
	if raw, ok := m["qty"]; ok {
		m["quantity"] = raw
		delete(m, "qty")
	}
	return json.Marshal(m)
}
