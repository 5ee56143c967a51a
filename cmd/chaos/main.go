// Command chaos runs the product as separate processes (3 etcd members,
// 3 NATS nodes mapping the SKU subjects to 16 partitions, 3 responders),
// injects faults drawn from a seed while clients record every reply,
// checks the history and prints the summary. Run it from within this
// module: it builds the binaries with the go command.
//
//	go run ./cmd/chaos -duration 10m -seed 42 -out summary.md
//	go run ./cmd/chaos -duration 10m -seed 42 -partitions 1   # no partitions
//
// It exits 1 if a safety property broke (or, with -strict, a target was
// missed), 2 on bad flags or a run that could not start.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/stockstate/stock/chaos"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 0, "seed of the fault schedule; 0 picks one from the clock (printed)")
	duration := fs.Duration("duration", 0, "inject faults for this long; 0 runs one round of every kind")
	kinds := fs.String("kinds", "", "comma-separated fault kinds; empty: all")
	ttl := fs.Duration("ttl", 5*time.Second, "the responders' -lease-ttl")
	election := fs.Duration("etcd-election", 500*time.Millisecond, "etcd's --election-timeout (heartbeat a tenth of it); 0: etcd's default (1s)")
	partitions := fs.Int("partitions", chaos.DefaultPartitions, "the responders' -partitions: SKUs spread over that many partitions, each with its own leader; 1: none")
	clients := fs.Int("clients", 0, "acquire clients: 3 patient ones that send to every partition, the others one partition each; 0: 3 + 2 per partition, at least 16")
	holders := fs.Int("holders", 4, "hold clients, which hold, then confirm, cancel or abandon, on a SKU of their own")
	buyers := fs.Int("buyers", chaos.DefaultConfig().Buyers, "buyer clients, which acquire and hold for buyers of SKUs capped per buyer, on SKUs of their own; 0 turns them off")
	out := fs.String("out", "", "also write the summary and the fault list to this file")
	history := fs.String("history", "", "also write the recorded history to this file (gzipped JSON; chaos.ReadHistory reads it)")
	timeline := fs.String("timeline", "", "also write a picture of the run to this file (SVG): grants per 100 ms, each partition's leader, faults, gaps shaded")
	dir := fs.String("dir", "", "keep data and logs here, in an empty or new directory (else a temporary one, removed)")
	bin := fs.String("bin", "", "use the responder, etcd and nats-server binaries in this directory instead of building them")
	strict := fs.Bool("strict", false, "exit 1 also when a target of the product is not met")
	trace := fs.Bool("trace", false, "log every change of the election keys (always watched); etcd logs at info")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	cfg := chaos.DefaultConfig()
	cfg.Seed, cfg.Duration, cfg.LeaseTTL, cfg.Clients, cfg.Trace = *seed, *duration, *ttl, *clients, *trace
	cfg.EtcdElection, cfg.Holders, cfg.Buyers, cfg.Partitions = *election, *holders, *buyers, *partitions
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano()) & (1<<53 - 1)
	}
	var err error
	if cfg.Kinds, err = chaos.ParseKinds(*kinds); err != nil {
		return fail(err)
	}
	start := time.Now()
	cfg.Logf = func(format string, args ...any) {
		fmt.Fprintf(stderr, "%8v "+format+"\n", append([]any{time.Since(start).Round(time.Millisecond)}, args...)...)
	}
	cfg.Logf("seed %d (replay with -seed %d)", cfg.Seed, cfg.Seed)

	cfg.Dir = *dir
	if cfg.Dir == "" {
		if cfg.Dir, err = os.MkdirTemp("", "chaos-"); err != nil {
			return fail(err)
		}
		defer os.RemoveAll(cfg.Dir)
	}
	if *bin != "" {
		cfg.Bin = chaos.Binaries{Responder: *bin + "/responder", Etcd: *bin + "/etcd", NATS: *bin + "/nats-server"}
	} else {
		bdir, err := os.MkdirTemp("", "chaos-bin-")
		if err != nil {
			return fail(err)
		}
		defer os.RemoveAll(bdir)
		if cfg.Bin, err = chaos.Build(ctx, bdir); err != nil {
			return fail(err)
		}
	}

	h, err := chaos.Run(ctx, cfg)
	if h == nil {
		return fail(err)
	}
	if err != nil {
		fmt.Fprintln(stderr, "chaos: run ended early:", err)
	}
	r := chaos.Check(h, chaos.DefaultBounds())
	var b strings.Builder
	_ = chaos.WriteSummary(&b, h, r)
	b.WriteString("\n```\n")
	_ = chaos.WriteFaults(&b, r)
	b.WriteString("```\n")
	fmt.Fprint(stdout, b.String())
	if *out != "" {
		if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
			return fail(err)
		}
	}
	if *history != "" {
		var hb strings.Builder
		if err := chaos.WriteHistory(&hb, h); err != nil {
			return fail(err)
		}
		if err := os.WriteFile(*history, []byte(hb.String()), 0o644); err != nil {
			return fail(err)
		}
	}
	if *timeline != "" {
		var svg strings.Builder
		if err := chaos.WriteTimeline(&svg, h); err != nil {
			return fail(err)
		}
		if err := os.WriteFile(*timeline, []byte(svg.String()), 0o644); err != nil {
			return fail(err)
		}
	}
	code := 0
	if !r.OK() || len(r.Excess) > 0 || err != nil {
		code = 1
	}
	if *strict {
		for _, t := range chaos.Targets(r, cfg.LeaseTTL) {
			if !t.Met {
				code = 1
			}
		}
	}
	return code
}
