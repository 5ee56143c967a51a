package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// permanent marks an error that retrying cannot cure: bad credentials, a
// certificate the peer rejects.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// retryConnect calls attempt until it succeeds, fails permanently, ctx ends,
// or timeout passes, waiting 100 ms between attempts at first and doubling
// up to 2 s, so that a responder started with (or before) NATS and etcd
// waits for them. attempt gets a context that ends at the deadline. The
// error names what, the timeout and the last failure, on one line; it wraps
// ctx.Err() when ctx ended first.
func retryConnect(ctx context.Context, timeout time.Duration, log *slog.Logger, what string, attempt func(context.Context) error) error {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wait := 100 * time.Millisecond
	var last error
	for {
		err := attempt(dctx)
		if err == nil {
			return nil
		}
		if p := (permanent{}); errors.As(err, &p) {
			return fmt.Errorf("%s: %w", what, p.error)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		// Keep the cause of the failures, not the deadline that cut the
		// last attempt short.
		if cut := dctx.Err() != nil && errors.Is(err, context.DeadlineExceeded); !cut || last == nil {
			last = err
		}
		if dctx.Err() != nil {
			return fmt.Errorf("%s not reachable within -connect-timeout %v: %w", what, timeout, last)
		}
		log.Warn(what+" not reachable yet; retrying", "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-dctx.Done():
		case <-t.C:
		}
		t.Stop()
		wait = min(2*wait, 2*time.Second)
	}
}

// connectNATS connects to url, retrying while the server is unreachable.
// Authentication and TLS failures are permanent.
func connectNATS(ctx context.Context, url string, timeout time.Duration, log *slog.Logger, opts ...nats.Option) (*nats.Conn, error) {
	var nc *nats.Conn
	closedAfterTLS := 0 // attempts in a row that the server closed right after the TLS handshake
	err := retryConnect(ctx, timeout, log, "NATS at "+redactURLs(url), func(ctx context.Context) error {
		dial := 2 * time.Second
		if d, ok := ctx.Deadline(); ok {
			dial = max(min(dial, time.Until(d)), 10*time.Millisecond)
		}
		c, err := nats.Connect(url, append(opts, nats.Timeout(dial))...)
		if err != nil {
			if natsPermanent(err) {
				return permanent{err}
			}
			// With TLS 1.3 a server that refuses our certificate may close
			// the connection before its alert is read; once is a race,
			// every time is a refusal.
			if !tlsClosedByServer(err) {
				closedAfterTLS = 0
				return err
			}
			if closedAfterTLS++; closedAfterTLS >= 3 {
				return permanent{fmt.Errorf("the server closed %d TLS connections in a row after the handshake (client certificate refused?): %w", closedAfterTLS, err)}
			}
			return err
		}
		nc = c
		return nil
	})
	return nc, err
}

func natsPermanent(err error) bool {
	for _, p := range []error{
		nats.ErrAuthorization, nats.ErrAuthExpired, nats.ErrAuthRevoked, nats.ErrAccountAuthExpired,
		nats.ErrNkeysNotSupported, nats.ErrSecureConnRequired, nats.ErrSecureConnWanted,
	} {
		if errors.Is(err, p) {
			return true
		}
	}
	return tlsRejected(err)
}

// tlsClosedByServer reports a connection the server closed right after a
// completed TLS handshake, as nats.go words it.
func tlsClosedByServer(err error) bool {
	return errors.Is(err, nats.ErrTLS) && strings.Contains(err.Error(), "closed by remote after TLS handshake")
}

// tlsRejected reports a TLS handshake that failed on a certificate: the
// server's, which we do not trust, or ours, which the server refused with a
// TLS alert ("remote error: tls: certificate required").
func tlsRejected(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		alert    tls.AlertError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		op       *net.OpError
	)
	return errors.As(err, &verify) || errors.As(err, &alert) || errors.As(err, &unknown) ||
		errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &op) && op.Op == "remote error"
}

// connectEtcd returns a client of cfg once the cluster answers a
// linearizable read of key (which needs a quorum, and read permission on
// key when auth is on), retrying while it does not. Each attempt first
// dials the endpoints over TCP, so that an unreachable cluster is reported
// as such; a failed attempt's client is closed and the next attempt dials
// afresh, so gRPC's own reconnect backoff never outlasts the timeout. Wrong
// credentials and missing permissions are permanent.
func connectEtcd(ctx context.Context, cfg clientv3.Config, key string, timeout time.Duration, log *slog.Logger) (*clientv3.Client, error) {
	var cli *clientv3.Client
	err := retryConnect(ctx, timeout, log, "etcd at "+strings.Join(cfg.Endpoints, ","), func(ctx context.Context) error {
		if err := dialAny(ctx, cfg.Endpoints); err != nil {
			return err
		}
		c, err := clientv3.New(cfg)
		if err != nil {
			return permanent{err}
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = c.Get(pctx, key)
		cancel()
		if err != nil {
			c.Close()
			if etcdPermanent(err) {
				return permanent{err}
			}
			return err
		}
		cli = c
		return nil
	})
	return cli, err
}

// dialAny returns nil once a TCP connection to one of the endpoints opens
// (or an endpoint is not TCP), else the first endpoint's error.
func dialAny(ctx context.Context, endpoints []string) error {
	var first error
	for _, ep := range endpoints {
		if strings.HasPrefix(ep, "unix") {
			return nil
		}
		if _, hostport, ok := strings.Cut(ep, "://"); ok {
			ep = hostport
		}
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := (&net.Dialer{}).DialContext(dctx, "tcp", ep)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

func etcdPermanent(err error) bool {
	for _, p := range []error{
		rpctypes.ErrAuthFailed, rpctypes.ErrPermissionDenied, rpctypes.ErrUserEmpty,
		rpctypes.ErrAuthNotEnabled, rpctypes.ErrInvalidAuthToken,
	} {
		if errors.Is(err, p) {
			return true
		}
	}
	return false
}

// redactURLs replaces the passwords of comma-separated URLs with "xxxxx",
// for logs and errors.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
