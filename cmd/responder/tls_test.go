package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/stockstate/stock/internal/testenv"
)

// secureEtcd starts a single-node etcd that serves clients over TLS only,
// requires client certificates signed by pki's CA, and has auth enabled
// with a user "stock" (password "stock-pw") allowed to read and write
// /stock and nothing else, and a user "nobody" (password "nobody-pw")
// allowed nothing. It returns the client URL.
func secureEtcd(t *testing.T, pki testPKI) string {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Name = "secure"
	cfg.Dir = t.TempDir()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.BcryptCost = uint(bcrypt.MinCost) // passwords are hashed on every login: keep it fast under -race
	client, _ := url.Parse("https://" + testenv.FreeAddr(t))
	peer, _ := url.Parse("http://" + testenv.FreeAddr(t))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ClientTLSInfo.CertFile, cfg.ClientTLSInfo.KeyFile = pki.ServerCert, pki.ServerKey
	cfg.ClientTLSInfo.TrustedCAFile, cfg.ClientTLSInfo.ClientCertAuth = pki.CA, true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd did not start")
	}

	tc, err := TLSFiles{CA: pki.CA, Cert: pki.ClientCert, Key: pki.ClientKey}.config()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{client.String()}, TLS: tc, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	steps := []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "root-pw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "stock"); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "stock", "/stock", clientv3.GetPrefixRangeEnd("/stock"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := cli.UserAdd(ctx, "stock", "stock-pw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "stock", "stock"); return err },
		func() error { _, err := cli.UserAdd(ctx, "nobody", "nobody-pw"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("etcd auth setup step %d: %v", i, err)
		}
	}
	return client.String()
}

// TestTLSAndAuth runs the responder against a NATS server and an etcd that
// both require TLS with client certificates, etcd with auth on and a user
// whose role covers only the -etcd-prefix: it leads and serves. Refused
// etcd credentials and a user without permission on the prefix fail the
// start at once.
func TestTLSAndAuth(t *testing.T) {
	pki := newPKI(t)
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CaFile: pki.CA, Verify: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := startNATS(t, &server.Options{TLSConfig: tc, TLS: true, TLSVerify: true, TLSTimeout: 2})
	etcd := secureEtcd(t, pki)
	natsURL := strings.Replace(srv.ClientURL(), "nats://", "tls://", 1)
	tlsArgs := []string{
		"-nats", natsURL, "-nats-ca", pki.CA, "-nats-cert", pki.ClientCert, "-nats-key", pki.ClientKey,
		"-etcd", etcd, "-etcd-ca", pki.CA, "-etcd-cert", pki.ClientCert, "-etcd-key", pki.ClientKey,
	}

	for _, tc := range []struct{ user, password, want string }{
		{"stock", "wrong", "authentication failed"},
		{"nobody", "nobody-pw", "permission denied"},
	} {
		m := NewMain()
		args := append([]string{"-http", "", "-connect-timeout", "30s", "-etcd-user", tc.user, "-etcd-password", tc.password}, tlsArgs...)
		if err := m.ParseFlags(args, func(string) string { return "" }); err != nil {
			t.Fatal(err)
		}
		m.Logger = testenv.Logger(t)
		start := time.Now()
		err := m.Run(context.Background())
		m.Close()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("etcd user %s: Run: %v, want %q", tc.user, err, tc.want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("etcd user %s: took %v to fail", tc.user, d)
		}
		t.Logf("etcd user %s: %v", tc.user, err)
	}

	m, _ := startMain(t, map[string]string{"STOCK_ETCD_PASSWORD": "stock-pw"},
		append([]string{"-id", "node-tls", "-etcd-user", "stock"}, tlsArgs...)...)
	waitLeading(t, m)
	tlsConf, err := TLSFiles{CA: pki.CA, Cert: pki.ClientCert, Key: pki.ClientKey}.config()
	if err != nil {
		t.Fatal(err)
	}
	nc := testenv.Connect(t, natsURL, nats.Secure(tlsConf))
	if r := req(t, nc, "stock.admin.set.sku1", `{"limit":5}`); r.Limit != 5 || r.Leader != "node-tls" {
		t.Fatalf("set: %+v", r)
	}
	if r := req(t, nc, "stock.acquire.sku1", `{"n":2}`); r.Granted != 2 || r.Remaining != 3 {
		t.Fatalf("acquire: %+v", r)
	}
}
