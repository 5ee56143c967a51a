package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/wire"
)

// runMain runs the program on its embedded default, on free ports, with its
// data in dir, until the returned stop is called, and waits until it leads.
func runMain(t *testing.T, dir string) (m *Main, stop func()) {
	t.Helper()
	m, stop = startMain(t, nil,
		"-nats-listen", testenv.FreeAddr(t),
		"-etcd-listen", testenv.FreeAddr(t),
		"-etcd-peer-listen", testenv.FreeAddr(t),
		"-data-dir", dir,
		"-id", "node-a",
	)
	waitLeading(t, m)
	return m, stop
}

func waitLeading(t *testing.T, m *Main) {
	t.Helper()
	testenv.Eventually(t, 15*time.Second, 5*time.Millisecond, func() error {
		if !m.Leading() {
			return fmt.Errorf("%s does not lead", m.Options.ID)
		}
		return nil
	})
}

// waitSpread waits until the processes ms lead all partitions between
// them, each its share within one, after which the balancer moves none.
// A test that sends plain requests waits for it: a request sent while a
// partition is handed over may find no responders, which a client retries
// but a bare nats.Conn.Request reports.
func waitSpread(t *testing.T, partitions int, ms ...*Main) {
	t.Helper()
	lo, hi := partitions/len(ms), (partitions+len(ms)-1)/len(ms)
	testenv.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		total := 0
		for _, m := range ms {
			r := m.resp.Load()
			if r == nil {
				return fmt.Errorf("%s has no responder yet", m.Options.ID)
			}
			n := len(r.LeadingPartitions())
			if n < lo || n > hi {
				return fmt.Errorf("%s leads %d partitions, want %d to %d", m.Options.ID, n, lo, hi)
			}
			total += n
		}
		if total != partitions {
			return fmt.Errorf("%d of %d partitions led", total, partitions)
		}
		return nil
	})
}

// startMain runs the program with args and the environment env (after
// defaults for tests: a 2 s lease, HTTP on a free port) until the returned
// stop is called or the test ends, and waits until it is Ready.
func startMain(t *testing.T, env map[string]string, args ...string) (m *Main, stop func()) {
	t.Helper()
	m = NewMain()
	args = append([]string{"-lease-ttl", "2s", "-http", "127.0.0.1:0", "-connect-timeout", "20s"}, args...)
	if err := m.ParseFlags(args, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	m.Logger = testenv.Logger(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case <-m.Ready:
	case err := <-done:
		cancel()
		m.Close()
		t.Fatalf("Run: %v", err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	t.Cleanup(stop)
	return m, stop
}

func req(t *testing.T, nc *nats.Conn, subject, body string) wire.Reply {
	t.Helper()
	msg, err := nc.Request(subject, []byte(body), 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subject, err)
	}
	var r wire.Reply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		t.Fatalf("%s: %q: %v", subject, msg.Data, err)
	}
	return r
}

// TestEmbeddedDefaultSurvivesRestart runs the single binary's default, sells
// some units, stops it as SIGTERM would, and starts it again on the same
// data: the graceful stop trimmed the cap, so nothing was lost.
func TestEmbeddedDefaultSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	m, stop := runMain(t, dir)
	nc := testenv.Connect(t, m.NATSURL())
	if r := req(t, nc, "stock.admin.set.sku1", `{"limit":100}`); r.Limit != 100 || r.Leader != "node-a" {
		t.Fatalf("set: %+v", r)
	}
	if r := req(t, nc, "stock.acquire.sku1", `{"n":1}`); r.Granted != 1 || r.Remaining != 99 {
		t.Fatalf("acquire: %+v", r)
	}
	if r := req(t, nc, "stock.acquire.sku1", `{"n":6}`); r.Granted != 6 || r.Remaining != 93 {
		t.Fatalf("acquire: %+v", r)
	}
	stop()

	m, _ = runMain(t, dir)
	nc = testenv.Connect(t, m.NATSURL())
	if r := req(t, nc, "stock.query.sku1", ""); r.Limit != 100 || r.Sold != 7 || r.Remaining != 93 {
		t.Fatalf("after restart: %+v, want limit 100 sold 7", r)
	}
}
