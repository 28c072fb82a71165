package main

import (
	"context"
	"log/slog"

	"github.com/citygrid/citygrid/internal/pgembed"
	"github.com/prometheus/client_golang/prometheus"
)

// supervise restarts the embedded cluster while serve runs when its
// postmaster dies, and leaves it down when an operator shut it down
// (pgembed.Cluster.Supervise states the policy); Close ends it before the
// cluster is stopped. With DATABASE_URL nothing is supervised: the service
// answers what it can without the database (locate from the snapshot,
// heatmaps from memory, 503 with Retry-After for the rest) and its pool and
// listeners reconnect when the database is back.
func (d *database) supervise(ctx context.Context, log *slog.Logger, restarts prometheus.Counter) {
	if d.cluster == nil {
		log.Info("the database is outside (DATABASE_URL): not supervised; the service reconnects when it is back")
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.cluster.Supervise(ctx, pgembed.SuperviseOptions{OnEvent: func(e pgembed.Event) {
			if e.Kind == pgembed.EventRestarted {
				restarts.Inc()
			}
		}})
	}()
	d.unsupervise = func() { cancel(); <-done }
}

// newRestartsCounter counts the embedded cluster's restarts after a crash.
func newRestartsCounter() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{
		Name: "citygrid_embedded_postgres_restarts_total",
		Help: "Restarts of the embedded PostgreSQL cluster by serve after its postmaster died.",
	})
}
