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

	"github.com/stockstate/stock/responder"
	"github.com/stockstate/stock/wire"
)

// Options are the responder's settings. Every flag can also be set by the
// environment variable envName gives (-nats-user: STOCK_NATS_USER); the
// flag wins.
type Options struct {
	NATS       string        // -nats: URLs; empty starts an embedded server
	NATSListen string        // -nats-listen
	Etcd       []string      // -etcd: endpoints; empty starts an embedded etcd
	EtcdListen string        // -etcd-listen
	EtcdPeer   string        // -etcd-peer-listen
	DataDir    string        // -data-dir
	ID         string        // -id
	Prefix     string        // -prefix
	EtcdPrefix string        // -etcd-prefix
	LeaseTTL   time.Duration // -lease-ttl
	WriteDepth int           // -write-depth
	Partitions int           // -partitions: of a new cluster; must match an existing one's
	LogLevel   slog.Level    // -log-level
	HTTP       string        // -http: empty disables

	// ConnectTimeout bounds how long Run keeps retrying NATS and etcd at
	// start while they come up (-connect-timeout).
	ConnectTimeout time.Duration

	NATSAuth NATSAuth // -nats-user, -nats-token, -nats-ca, ...
	EtcdAuth EtcdAuth // -etcd-user, -etcd-ca, ...

	Version bool // -version: print the version and exit
}

// hasEnv reports whether an environment variable can set the flag: all but
// -version can.
func hasEnv(flagName string) bool { return flagName != "version" }

// envName is the environment variable of a flag: STOCK_ and the flag's name
// in upper case with "_" for "-".
func envName(flagName string) string {
	return "STOCK_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

const usageHead = `Usage: responder [flags]

Responder serves stock over NATS while etcd elects it leader. With no -nats
and no -etcd it starts an embedded NATS server and an embedded single-node
etcd. Each flag can also be set by the environment variable shown beside it;
the flag wins.

`

// newFlagSet returns the responder's flags, bound to o and set to their
// defaults. It prints nothing: parse errors come back as errors.
func newFlagSet(o *Options) *flag.FlagSet {
	fs := flag.NewFlagSet("responder", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}

	fs.StringVar(&o.NATS, "nats", "", "NATS server `URLs`, comma-separated; empty starts an embedded server")
	fs.StringVar(&o.NATSListen, "nats-listen", "127.0.0.1:4222", "`address` of the embedded NATS server")
	fs.Var(listFlag{&o.Etcd}, "etcd", "etcd `endpoints`, comma-separated; empty starts an embedded single-node etcd")
	fs.StringVar(&o.EtcdListen, "etcd-listen", "127.0.0.1:2379", "client `address` of the embedded etcd")
	fs.StringVar(&o.EtcdPeer, "etcd-peer-listen", "127.0.0.1:2380", "peer `address` of the embedded etcd")
	fs.StringVar(&o.DataDir, "data-dir", "./stock-data", "data `directory` of the embedded etcd")
	fs.StringVar(&o.ID, "id", defaultID(), "node `id`, reported as \"leader\"")
	fs.StringVar(&o.Prefix, "prefix", "stock", "NATS subject `prefix`")
	fs.StringVar(&o.EtcdPrefix, "etcd-prefix", "/stock", "etcd key `prefix`")
	fs.DurationVar(&o.LeaseTTL, "lease-ttl", 5*time.Second, "leader lease TTL, whole seconds")
	fs.IntVar(&o.Partitions, "partitions", 1, "`number` of partitions of the SKUs, each led by one responder; fixed when the cluster is created (1 to 1024)")
	fs.IntVar(&o.WriteDepth, "write-depth", responder.DefaultConfig().WriteDepth, "rounds of etcd writes in flight at once, on disjoint keys (1 to 8)")
	fs.TextVar(&o.LogLevel, "log-level", slog.LevelInfo, "`level` of the logs on stderr: debug, info, warn or error")
	fs.StringVar(&o.HTTP, "http", "127.0.0.1:9464", "`address` of /metrics, /healthz, /readyz, /debug/stats and /debug/pprof; empty disables")
	fs.DurationVar(&o.ConnectTimeout, "connect-timeout", 30*time.Second, "how long to retry NATS and etcd at start while they come up")

	n := &o.NATSAuth
	fs.StringVar(&n.User, "nats-user", "", "NATS `user` (with -nats-password)")
	fs.StringVar(&n.Password, "nats-password", "", "NATS `password`; prefer the environment variable to the flag")
	fs.StringVar(&n.Token, "nats-token", "", "NATS authentication `token`; prefer the environment variable to the flag")
	fs.StringVar(&n.NkeyFile, "nats-nkey", "", "`file` holding the NATS user's nkey seed")
	fs.StringVar(&n.CredsFile, "nats-creds", "", "NATS credentials `file` (user JWT and nkey seed)")
	fs.StringVar(&n.TLS.CA, "nats-ca", "", "PEM `file` of the CAs that sign the NATS servers' certificates; implies TLS")
	fs.StringVar(&n.TLS.Cert, "nats-cert", "", "PEM `file` of the client certificate for NATS (with -nats-key); implies TLS")
	fs.StringVar(&n.TLS.Key, "nats-key", "", "PEM `file` of the key of -nats-cert")

	e := &o.EtcdAuth
	fs.StringVar(&e.User, "etcd-user", "", "etcd `user` (with -etcd-password)")
	fs.StringVar(&e.Password, "etcd-password", "", "etcd `password`; prefer the environment variable to the flag")
	fs.StringVar(&e.TLS.CA, "etcd-ca", "", "PEM `file` of the CAs that sign the etcd servers' certificates; implies TLS")
	fs.StringVar(&e.TLS.Cert, "etcd-cert", "", "PEM `file` of the client certificate for etcd (with -etcd-key); implies TLS")
	fs.StringVar(&e.TLS.Key, "etcd-key", "", "PEM `file` of the key of -etcd-cert")

	fs.BoolVar(&o.Version, "version", false, "print the version and exit")

	fs.VisitAll(func(f *flag.Flag) {
		if hasEnv(f.Name) {
			f.Usage += " [$" + envName(f.Name) + "]"
		}
	})
	return fs
}

func defaultID() string {
	host, err := os.Hostname()
	if err != nil {
		host = "responder"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// ParseFlags reads args, then getenv for every flag args did not set, into
// m.Options, and checks them. It returns flag.ErrHelp for -h; with -version
// it reads nothing else.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	o := &m.Options
	fs := newFlagSet(o)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Version {
		return nil
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := applyEnv(fs, getenv); err != nil {
		return err
	}
	return o.validate()
}

// applyEnv sets each flag that the command line did not set from its
// environment variable, if that is not empty.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || !hasEnv(f.Name) {
			return
		}
		name := envName(f.Name)
		if v := getenv(name); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("invalid value %q for %s: %w", v, name, err))
			}
		}
	})
	return errors.Join(errs...)
}

func (o *Options) validate() error {
	switch {
	case o.LeaseTTL < time.Second || o.LeaseTTL%time.Second != 0:
		return fmt.Errorf("-lease-ttl must be whole seconds, at least 1s: %v", o.LeaseTTL)
	case o.Partitions < 1 || o.Partitions > wire.MaxPartitions:
		return fmt.Errorf("-partitions must be from 1 to %d: %d", wire.MaxPartitions, o.Partitions)
	case o.WriteDepth < 1 || o.WriteDepth > 8:
		return fmt.Errorf("-write-depth must be from 1 to 8: %d", o.WriteDepth)
	case o.ConnectTimeout <= 0:
		return fmt.Errorf("-connect-timeout must be positive: %v", o.ConnectTimeout)
	case o.ID == "":
		return errors.New("-id must not be empty")
	}
	if err := o.NATSAuth.validate(o.NATS != ""); err != nil {
		return err
	}
	return o.EtcdAuth.validate(len(o.Etcd) > 0)
}

// Usage writes the help text: every flag with its default and environment
// variable.
func Usage(w io.Writer) {
	fs := newFlagSet(&Options{})
	fs.SetOutput(w)
	fmt.Fprint(w, usageHead)
	fs.PrintDefaults()
}

// listFlag is a comma-separated list; blanks around items are dropped.
type listFlag struct{ p *[]string }

func (l listFlag) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l listFlag) Set(s string) error {
	*l.p = nil
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l.p = append(*l.p, item)
		}
	}
	return nil
}
