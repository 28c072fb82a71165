package postgres

import (
	"context"
	"log/slog"
	"time"
)

// ListenGridVersions calls onChange whenever a grid version is activated
// anywhere (NOTIFY), and after every reconnect, since notifications sent
// while disconnected are lost. It returns when ctx ends.
func (db *DB) ListenGridVersions(ctx context.Context, onChange func(), log *slog.Logger) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, onChange, func() { backoff = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return
		}
		log.Warn("grid version listener lost its connection; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

func (db *DB) listenOnce(ctx context.Context, onChange, connected func()) error {
	pc, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection carries a LISTEN: never hand it back to the pool.
	conn := pc.Hijack()
	defer conn.Close(context.Background()) //nolint:errcheck
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return err
	}
	connected()
	onChange()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		onChange()
	}
}
