// Command loadgen drives a stock deployment over NATS with acquire requests,
// measures throughput and latency, and verifies that nothing was oversold:
// a thin main over package loadgen, whose doc and flags.go say the rest.
//
//	loadgen -nats nats://127.0.0.1:4222 -c 256 -d 10s -null
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/stockstate/stock/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := loadgen.NewMain()
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
