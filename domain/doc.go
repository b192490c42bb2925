// Package domain holds AlgoAuto's pure trading model: value types (Price in
// paise, Side, Instrument), the events that make up the log (market, signal,
// order and control families) with their validation rules, and the NSE
// session calendar.
//
// Contract: nothing here performs I/O, reads the wall clock or uses
// randomness; the package imports only the standard library (and
// google/uuid where identifiers need it). Money is exact: int64 paise.
// Every event type has a stable name (EventType) that is part of the
// persisted schema and must never change; Validate reports the first
// offending field as a *FieldError.
package domain
