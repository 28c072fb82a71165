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
	db.listen(ctx, NotifyChannel, func(string) { onChange() }, onChange, log)
}

// listen holds a LISTEN on channel, calling onNotify with each payload and
// onConnect after every (re)connect, retrying with backoff until ctx ends.
func (db *DB) listen(ctx context.Context, channel string, onNotify func(payload string), onConnect func(), log *slog.Logger) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, channel, onNotify, func() {
			backoff = 100 * time.Millisecond
			onConnect()
		})
		if ctx.Err() != nil {
			return
		}
		log.Warn("listener lost its connection; retrying", "channel", channel, "err", err, "in", backoff)
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

func (db *DB) listenOnce(ctx context.Context, channel string, onNotify func(string), connected func()) error {
	pc, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection carries a LISTEN: never hand it back to the pool.
	conn := pc.Hijack()
	defer conn.Close(context.Background()) //nolint:errcheck
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	connected()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		onNotify(n.Payload)
	}
}
