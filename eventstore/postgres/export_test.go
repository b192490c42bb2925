package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// WithBeforeCommit returns cfg with a hook that runs inside every append's
// transaction just before COMMIT (a hook error rolls the append back).
func WithBeforeCommit(cfg Config, hook func(ctx context.Context, tx pgx.Tx) error) Config {
	cfg.beforeCommit = hook
	return cfg
}
