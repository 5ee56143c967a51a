// Command responder serves stock over NATS while etcd elects it leader.
// With no -nats and no -etcd it starts an embedded NATS server and an
// embedded single-node etcd, so one command runs the whole product.
//
// Exit status: 0 after a graceful stop (SIGINT or SIGTERM), -h or -version;
// 2 for a bad flag or environment variable; 1 when it cannot start (NATS or
// etcd unreachable for -connect-timeout, bad credentials) or stops serving
// on an error. A second signal during the graceful stop kills it at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

// defaultGCPercent replaces Go's 100 unless GOGC is set: the responder's
// live heap is a few MB, so at 100 it collects dozens of times a second
// under load, and each collection's pauses and assists show in the tail
// latency (see BENCHMARKS.md).
const defaultGCPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	// After the first signal, let the next one take its default action.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the program: it parses args and the environment, runs until ctx
// ends, and returns the exit status. Usage and the version go to stdout,
// errors (one line each) and logs to stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	m := NewMain()
	if err := m.ParseFlags(args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			Usage(stdout)
			return 0
		}
		fmt.Fprintf(stderr, "responder: %s (responder -h lists the flags)\n", oneLine(err))
		return 2
	}
	if m.Options.Version {
		fmt.Fprintln(stdout, "responder", Version())
		return 0
	}
	m.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: m.Options.LogLevel}))
	err := m.Run(ctx)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(stderr, "responder:", oneLine(err))
		return 1
	}
	return 0
}

// oneLine joins the lines of err's message.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
