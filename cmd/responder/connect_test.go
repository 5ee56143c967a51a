package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/stockstate/stock/internal/embedded"
	"github.com/stockstate/stock/internal/testenv"
)

// TestWaitsForNATSAndEtcd starts the responder before NATS and etcd exist,
// as a container may start before the servers it needs: /healthz answers
// and /readyz says "starting" while it waits; NATS comes up, then etcd a
// little later, and the responder connects to both and leads.
func TestWaitsForNATSAndEtcd(t *testing.T) {
	natsAddr, etcdAddr, peerAddr, httpAddr := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	m := NewMain()
	if err := m.ParseFlags([]string{"-id", "early", "-nats", "nats://" + natsAddr, "-etcd", etcdAddr,
		"-http", httpAddr, "-lease-ttl", "2s", "-connect-timeout", "30s"}, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	m.Logger = testenv.Logger(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	var (
		natsSrv *server.Server
		etcd    *embed.Etcd
	)
	t.Cleanup(func() { // the responder first, then the servers it uses
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		m.Close()
		if etcd != nil {
			etcd.Close()
		}
		if natsSrv != nil {
			natsSrv.Shutdown()
			natsSrv.WaitForShutdown()
		}
	})

	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		code, body, err := tryGet(httpAddr, "/readyz")
		if err != nil {
			return err
		}
		if code != 503 || strings.TrimSpace(body) != "starting" {
			return fmt.Errorf("/readyz while waiting: %d %q", code, body)
		}
		return nil
	})
	if code, _ := get(t, httpAddr, "/healthz"); code != 200 {
		t.Fatalf("/healthz while waiting: %d", code)
	}

	var err error
	if natsSrv, err = embedded.StartNATS(natsAddr); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
		if natsSrv.NumClients() == 0 {
			return errors.New("the responder has not connected to NATS")
		}
		return nil
	}) // it now waits for etcd, which comes up later
	select {
	case <-m.Ready:
		t.Fatal("ready without etcd")
	default:
	}
	if etcd, err = embedded.StartEtcd(embedded.EtcdConfig{Dir: t.TempDir(), ClientAddr: etcdAddr, PeerAddr: peerAddr}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.Ready:
	case err := <-done:
		done <- err
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("not ready 20s after NATS and etcd came up")
	}
	waitLeading(t, m)
}

// TestGivesUpAfterConnectTimeout: when NATS, or etcd, does not come up
// within -connect-timeout, Run fails with one line naming what it could not
// reach, the timeout and why.
func TestGivesUpAfterConnectTimeout(t *testing.T) {
	srv := testenv.NATS(t)
	for _, tc := range []struct {
		name, nats, etcd string
		want             []string
	}{
		{"nats", "nats://" + testenv.FreeAddr(t), testenv.FreeAddr(t),
			[]string{"NATS at nats://127.0.0.1:", "not reachable within -connect-timeout 1s", "no servers available"}},
		{"etcd", srv.ClientURL(), testenv.FreeAddr(t),
			[]string{"etcd at 127.0.0.1:", "not reachable within -connect-timeout 1s", "connection refused"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMain()
			if err := m.ParseFlags([]string{"-nats", tc.nats, "-etcd", tc.etcd, "-http", "", "-connect-timeout", "1s"},
				func(string) string { return "" }); err != nil {
				t.Fatal(err)
			}
			m.Logger = testenv.Logger(t)
			start := time.Now()
			err := m.Run(context.Background())
			m.Close()
			d := time.Since(start)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if d < time.Second || d > 8*time.Second {
				t.Errorf("gave up after %v, want about 1s", d)
			}
		})
	}
}

// TestStopWhileConnecting: a signal while Run waits for NATS ends Run at
// once, without an error.
func TestStopWhileConnecting(t *testing.T) {
	m := NewMain()
	if err := m.ParseFlags([]string{"-nats", "nats://" + testenv.FreeAddr(t), "-etcd", testenv.FreeAddr(t), "-http", ""},
		func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	m.Logger = testenv.Logger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := m.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	m.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Run took %v to stop", d)
	}
}

// TestTLSClosedByServer: nats.go's error for a server that closed the
// connection right after the TLS handshake is told apart from other TLS
// errors, so that connectNATS can stop retrying once it repeats.
func TestTLSClosedByServer(t *testing.T) {
	closed := fmt.Errorf("%w: connection closed by remote after TLS handshake: %w", nats.ErrTLS, io.EOF)
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{closed, true},
		{fmt.Errorf("connect: %w", closed), true},
		{nats.ErrTLS, false},
		{io.EOF, false},
		{errors.New("connection closed by remote after TLS handshake"), false},
	} {
		if got := tlsClosedByServer(tc.err); got != tc.want {
			t.Errorf("tlsClosedByServer(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
