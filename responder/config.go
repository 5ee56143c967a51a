package responder

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/stockstate/stock/responder/liveness"
	"github.com/stockstate/stock/stock"
	"github.com/stockstate/stock/wire"
)

// Config tunes a Server. Start from DefaultConfig.
type Config struct {
	Prefix   string // subject prefix, "stock"
	ID       string // node id, reported as "leader"
	Instance string // this process's identity, unique per start; New picks one if empty

	ServiceName string // NATS micro service name, "stock"
	Version     string // reported by discovery
	Workers     int    // acquire subscriptions, each served by its own goroutine
	// Queue is the queue group of the request subscriptions. Empty means
	// one of this process's own: its workers share each message, and every
	// process that subscribes gets every message, so a paused old leader
	// that still holds its subscriptions takes no share of the requests
	// away from the new one (it answers them unavailable, if at all, when
	// it wakes).
	Queue string

	MaxBody       int           // largest request body accepted, in bytes
	MaxWait       time.Duration // longest a request waits for a raised cap
	DedupeHorizon time.Duration // how long a request id is remembered
	WriteTimeout  time.Duration // bound on one store transaction
	DrainTimeout  time.Duration // bound on a graceful stop's drain
	EventInterval time.Duration // least time between a SKU's stock events; 0 disables them

	Policy stock.Policy // window sizing
	// KeyBudget is the store key writes per second that refills aim to stay
	// within: with many active SKUs each SKU's window grows.
	KeyBudget int
	// Coalesce is the least time between two rounds of refills ahead of
	// demand, so that SKUs that need one about together share a write.
	// A request that waits, or an admin op, starts a round at once.
	Coalesce time.Duration
	// MaxRoundKeys bounds the SKUs one round of refills writes, so that a
	// round that waiting requests need stays short.
	MaxRoundKeys int
	// WriteDepth is how many rounds of writes may be in flight at once, on
	// disjoint keys: with 2, the next round's holds and buyers' grants are
	// written while the last round's are, instead of after.
	WriteDepth int

	Logger   *slog.Logger
	Observer Observer // nil: none

	// Watch, if set, lets a standby probe the processes of the other
	// candidates over NATS and revoke a lease once ProbeFailures probes in a
	// row, ProbeInterval apart, found the leader's process gone; a standby's
	// needs liveness.StandbyFactor times as many, since nothing waits on it.
	// The candidate value must be liveness.CandidateValue(ID, Instance).
	Watch         liveness.Queue
	ProbeInterval time.Duration
	ProbeFailures int
	// ProbeWarmup is how long after its start a node waits before it
	// probes: a NATS server that has just been connected to, or routed to
	// its peers, may not know the cluster's interest yet and would answer
	// "no responders" for a live process.
	ProbeWarmup time.Duration
}

// DefaultConfig returns the defaults of cmd/responder.
func DefaultConfig() Config {
	return Config{
		Prefix:        "stock",
		ID:            "stock",
		ServiceName:   "stock",
		Version:       "0.0.0-dev",
		Workers:       runtime.GOMAXPROCS(0),
		MaxBody:       1024,
		MaxWait:       2 * time.Second,
		DedupeHorizon: 2 * time.Minute,
		WriteTimeout:  2 * time.Second,
		DrainTimeout:  5 * time.Second,
		EventInterval: 100 * time.Millisecond,
		Policy:        stock.DefaultPolicy(),
		KeyBudget:     2000,
		Coalesce:      10 * time.Millisecond,
		MaxRoundKeys:  512,
		WriteDepth:    2,
		Logger:        slog.New(slog.DiscardHandler),
		ProbeInterval: 100 * time.Millisecond,
		ProbeFailures: 3,
		ProbeWarmup:   time.Second,
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case !wire.ValidPrefix(c.Prefix):
		return fmt.Errorf("responder: prefix %q is not a NATS subject prefix", c.Prefix)
	case c.ServiceName == "" || strings.ContainsAny(c.ServiceName, ".*> \t"):
		return fmt.Errorf("responder: service name %q is not a subject token", c.ServiceName)
	case c.ID == "":
		return errors.New("responder: empty node id")
	case c.Workers < 1:
		return errors.New("responder: workers must be at least 1")
	case c.MaxBody < 64:
		return errors.New("responder: max body must be at least 64 bytes")
	case c.MaxWait <= 0 || c.WriteTimeout <= 0 || c.DrainTimeout <= 0 || c.EventInterval < 0:
		return errors.New("responder: timeouts must be positive")
	case c.DedupeHorizon < time.Minute:
		return errors.New("responder: dedupe horizon must be at least a minute")
	case c.Policy.Interval <= 0 || c.Policy.MinWindow < 1 || c.Policy.MaxShare <= 0 || c.Policy.MaxShare > 1:
		return errors.New("responder: bad window policy")
	case c.KeyBudget < 1:
		return errors.New("responder: key budget must be at least 1")
	case c.Coalesce < 0 || c.Coalesce > c.Policy.Interval/2:
		return errors.New("responder: coalesce must be between 0 and half the refill interval")
	case c.MaxRoundKeys < 1:
		return errors.New("responder: max round keys must be at least 1")
	case c.WriteDepth < 1 || c.WriteDepth > 8:
		return errors.New("responder: write depth must be from 1 to 8")
	case c.Watch != nil && (c.ProbeInterval <= 0 || c.ProbeFailures < 1 || c.ProbeWarmup < 0):
		return errors.New("responder: probe interval and failures must be positive")
	case strings.ContainsAny(c.Instance, ".*> \t#"):
		return fmt.Errorf("responder: instance %q is not a subject token", c.Instance)
	case c.Logger == nil:
		return errors.New("responder: nil logger")
	}
	return nil
}
