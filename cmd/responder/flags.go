package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Options are the responder's settings; each flag can also be set by the
// environment variable named beside it (the flag wins).
type Options struct {
	NATS       string        // -nats, STOCK_NATS
	NATSListen string        // -nats-listen, STOCK_NATS_LISTEN
	Etcd       []string      // -etcd, STOCK_ETCD
	EtcdListen string        // -etcd-listen, STOCK_ETCD_LISTEN
	EtcdPeer   string        // -etcd-peer-listen, STOCK_ETCD_PEER_LISTEN
	DataDir    string        // -data-dir, STOCK_DATA_DIR
	ID         string        // -id, STOCK_ID
	Prefix     string        // -prefix, STOCK_PREFIX
	EtcdPrefix string        // -etcd-prefix, STOCK_ETCD_PREFIX
	LeaseTTL   time.Duration // -lease-ttl, STOCK_LEASE_TTL
	LogLevel   slog.Level    // -log-level, STOCK_LOG_LEVEL
	HTTP       string        // -http, STOCK_HTTP
}

func defaultID() string {
	host, err := os.Hostname()
	if err != nil {
		host = "responder"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// ParseFlags reads args, with getenv for the environment, into m.Options.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("responder", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := &m.Options
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var etcd, ttl, level string
	fs.StringVar(&o.NATS, "nats", env("STOCK_NATS", ""), "NATS server URL(s), comma-separated; empty starts an embedded server (STOCK_NATS)")
	fs.StringVar(&o.NATSListen, "nats-listen", env("STOCK_NATS_LISTEN", "127.0.0.1:4222"), "address of the embedded NATS server (STOCK_NATS_LISTEN)")
	fs.StringVar(&etcd, "etcd", env("STOCK_ETCD", ""), "etcd endpoints, comma-separated; empty starts an embedded etcd (STOCK_ETCD)")
	fs.StringVar(&o.EtcdListen, "etcd-listen", env("STOCK_ETCD_LISTEN", "127.0.0.1:2379"), "client address of the embedded etcd (STOCK_ETCD_LISTEN)")
	fs.StringVar(&o.EtcdPeer, "etcd-peer-listen", env("STOCK_ETCD_PEER_LISTEN", "127.0.0.1:2380"), "peer address of the embedded etcd (STOCK_ETCD_PEER_LISTEN)")
	fs.StringVar(&o.DataDir, "data-dir", env("STOCK_DATA_DIR", "./stock-data"), "data directory of the embedded etcd (STOCK_DATA_DIR)")
	fs.StringVar(&o.ID, "id", env("STOCK_ID", defaultID()), "node id, reported as \"leader\" (STOCK_ID)")
	fs.StringVar(&o.Prefix, "prefix", env("STOCK_PREFIX", "stock"), "NATS subject prefix (STOCK_PREFIX)")
	fs.StringVar(&o.EtcdPrefix, "etcd-prefix", env("STOCK_ETCD_PREFIX", "/stock"), "etcd key prefix (STOCK_ETCD_PREFIX)")
	fs.StringVar(&ttl, "lease-ttl", env("STOCK_LEASE_TTL", "5s"), "leader lease TTL, whole seconds (STOCK_LEASE_TTL)")
	fs.StringVar(&o.HTTP, "http", env("STOCK_HTTP", "127.0.0.1:9464"), "address of /metrics, /healthz, /readyz and /debug/pprof; empty disables (STOCK_HTTP)")
	fs.StringVar(&level, "log-level", env("STOCK_LOG_LEVEL", "info"), "debug, info, warn or error (STOCK_LOG_LEVEL)")
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fmt.Fprintln(os.Stderr, "Usage: responder [flags]")
			fs.PrintDefaults()
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.LeaseTTL, err = time.ParseDuration(ttl); err != nil {
		return fmt.Errorf("-lease-ttl: %w", err)
	}
	if o.LeaseTTL < time.Second || o.LeaseTTL%time.Second != 0 {
		return fmt.Errorf("-lease-ttl must be whole seconds, at least 1s: %v", o.LeaseTTL)
	}
	if err := o.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	o.Etcd = nil
	for _, ep := range strings.Split(etcd, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			o.Etcd = append(o.Etcd, ep)
		}
	}
	if o.ID == "" {
		return errors.New("-id must not be empty")
	}
	return nil
}
