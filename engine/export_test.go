package engine

// Position returns the engine's net quantity and book of an account and
// instrument ("EXCHANGE:SYMBOL"): what the risk gate and flattening see.
func Position(e *Engine, account, instrument string) (qty, bookQty int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.netLocked(posKey{account, instrument})
	return q, q
}
