package engine

// Position returns the engine's net quantity and book of an account and
// instrument ("EXCHANGE:SYMBOL"): what the risk gate and flattening see.
func Position(e *Engine, account, instrument string) (qty, bookQty int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := posKey{account, instrument}
	if b := e.books[k]; b != nil {
		bookQty = b.qty
	}
	return e.pos[k], bookQty
}
