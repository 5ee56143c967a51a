package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/stockstate/stock/internal/testenv"
)

// startNATS starts a NATS server of opts on a free loopback port; cleanup
// stops it.
func startNATS(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.NoLog, opts.NoSigs = true, true
	opts.HTTPPort, opts.Cluster.Port, opts.LeafNode.Port, opts.Gateway.Port = 0, 0, 0, 0
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not start")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// deployNATS starts a NATS server configured by deploy/nats-server.conf,
// with the passwords it reads from the environment set to the returned
// values, by user.
func deployNATS(t *testing.T) (*server.Server, map[string]string) {
	t.Helper()
	pw := map[string]string{}
	for _, user := range []string{"responder", "buyer", "admin", "loadgen"} {
		pw[user] = "pw-" + user + "-" + t.Name()
		t.Setenv("NATS_"+strings.ToUpper(user)+"_PASSWORD", pw[user])
	}
	opts, err := server.ProcessConfigFile(filepath.Join("..", "..", "deploy", "nats-server.conf"))
	if err != nil {
		t.Fatal(err)
	}
	return startNATS(t, opts), pw
}

// TestDeployedPermissions runs two responders against a NATS server with
// deploy/nats-server.conf's users and permissions: the leader serves with
// the responder user; an admin sets a limit and finds the responders by
// discovery; a buyer acquires (alone and in a batch) and gets the stock
// events; a standby's probe of the leader's process is answered; and a
// buyer can neither set a limit (publish permission violation, nothing
// changes) nor subscribe to the requests, as an impostor responder would.
func TestDeployedPermissions(t *testing.T) {
	srv, pw := deployNATS(t)
	etcd := testenv.Endpoint(testenv.Etcd(t))
	env := map[string]string{"STOCK_NATS_USER": "responder", "STOCK_NATS_PASSWORD": pw["responder"]}
	n := composePartitions(t) // the conf maps the subjects for these
	parts := strconv.Itoa(n)
	m, _ := startMain(t, env, "-id", "node-a", "-nats", srv.ClientURL(), "-etcd", etcd, "-partitions", parts)
	waitLeading(t, m)
	standby, _ := startMain(t, env, "-id", "node-b", "-nats", srv.ClientURL(), "-etcd", etcd, "-partitions", parts)
	waitSpread(t, n, m, standby)

	// What a standby does to tell a dead leader from a paused one.
	responderConn := testenv.Connect(t, srv.ClientURL(), nats.UserInfo("responder", pw["responder"]))
	probe, err := responderConn.Request("stock.probe."+m.resp.Load().Instance(), nil, 5*time.Second)
	if err != nil || string(probe.Data) != `"node-a"` {
		t.Fatalf("probe of the leader as the responder user: %v %+v", err, probe)
	}
	if r := standby.resp.Load(); r != nil {
		for _, p := range r.LeadingPartitions() {
			if slices.Contains(m.resp.Load().LeadingPartitions(), p) {
				t.Fatalf("partition %d has two leaders", p)
			}
		}
	}

	admin := testenv.Connect(t, srv.ClientURL(), nats.UserInfo("admin", pw["admin"]))
	if r := req(t, admin, "stock.admin.set.sku1", `{"limit":10}`); r.Limit != 10 || r.Leader != "node-a" && r.Leader != "node-b" {
		t.Fatalf("admin set: %+v", r)
	}

	errs := make(chan error, 8)
	buyer := testenv.Connect(t, srv.ClientURL(), nats.UserInfo("buyer", pw["buyer"]),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	events, err := buyer.SubscribeSync("stock.events.>")
	if err != nil {
		t.Fatal(err)
	}
	if r := req(t, buyer, "stock.acquire.sku1", `{"n":2}`); r.Granted != 2 || r.Remaining != 8 {
		t.Fatalf("buyer acquire: %+v", r)
	}
	batch, err := buyer.Request("stock.acquire", []byte(`[{"sku":"sku1","n":1}]`), 5*time.Second)
	if err != nil || !strings.Contains(string(batch.Data), `"granted":1`) {
		t.Fatalf("buyer batch: %v %+v", err, batch)
	}
	if ev, err := events.NextMsg(5 * time.Second); err != nil || ev.Subject != "stock.events.sku1" {
		t.Fatalf("buyer got no stock event: %v", err)
	}
	_, err = buyer.Request("stock.admin.set.sku1", []byte(`{"limit":1000}`), 2*time.Second)
	if err == nil {
		t.Fatal("a buyer set a limit")
	}
	t.Logf("buyer set: %v", err)
	waitPermissionViolation(t, errs, "stock.admin.set.sku1")
	if r := req(t, buyer, "stock.query.sku1", ""); r.Limit != 10 || r.Sold != 3 {
		t.Fatalf("after the buyer's set: %+v, want limit 10 sold 3", r)
	}

	// A buyer cannot pose as a responder.
	if _, err := buyer.Subscribe("stock.acquire.*", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	waitPermissionViolation(t, errs, "stock.acquire.*")

	// Discovery answers the admin, from both responders.
	inbox := admin.NewRespInbox()
	replies, err := admin.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.PublishRequest("$SRV.PING.stock", inbox, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := replies.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("discovery reply %d: %v", i+1, err)
		}
	}

	// Only the admin's publish reached the responder.
	if r := req(t, admin, "stock.admin.set.sku1", `{"limit":20}`); r.Limit != 20 || r.Sold != 3 {
		t.Fatalf("admin set: %+v", r)
	}
}

func waitPermissionViolation(t *testing.T, errs <-chan error, subject string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case err := <-errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
				return
			}
			t.Logf("other async error: %v", err)
		case <-timeout:
			t.Fatalf("no permission violation for %s", subject)
		}
	}
}

// TestResponderWrongPassword: refused credentials fail the start at once,
// with the server's reason, instead of being retried for -connect-timeout.
func TestResponderWrongPassword(t *testing.T) {
	srv, _ := deployNATS(t)
	m := NewMain()
	if err := m.ParseFlags([]string{"-nats", srv.ClientURL(), "-etcd", "127.0.0.1:1", "-http", "",
		"-nats-user", "responder", "-nats-password", "wrong", "-connect-timeout", "30s"}, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	m.Logger = testenv.Logger(t)
	start := time.Now()
	err := m.Run(context.Background())
	m.Close()
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		t.Fatalf("Run: %v, want an authorization violation", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("refused credentials took %v to report", d)
	}
}

// TestNATSCredentials connects with each way of proving who one is to a
// server that requires it, and with a wrong one, which fails at once.
func TestNATSCredentials(t *testing.T) {
	dir := t.TempDir()
	pki := newPKI(t)

	// nkey user
	ukp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	upub, _ := ukp.PublicKey()
	useed, _ := ukp.Seed()
	seedFile := filepath.Join(dir, "user.nk")
	writeFile(t, seedFile, useed)
	otherKP, _ := nkeys.CreateUser()
	otherSeed, _ := otherKP.Seed()
	otherSeedFile := filepath.Join(dir, "other.nk")
	writeFile(t, otherSeedFile, otherSeed)

	// operator mode: a creds file holds a user JWT signed by an account
	// the operator signed.
	credsFile, credsOpts := operatorMode(t, dir)

	tlsOpts := func() *server.Options {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
			CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CaFile: pki.CA, Verify: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		return &server.Options{TLSConfig: tc, TLS: true, TLSVerify: true, TLSTimeout: 2}
	}

	for _, tc := range []struct {
		name string
		opts func() *server.Options
		good NATSAuth
		bad  NATSAuth
	}{
		{"user", func() *server.Options { return &server.Options{Username: "u", Password: "p"} },
			NATSAuth{User: "u", Password: "p"}, NATSAuth{User: "u", Password: "q"}},
		{"token", func() *server.Options { return &server.Options{Authorization: "s3cret"} },
			NATSAuth{Token: "s3cret"}, NATSAuth{Token: "guess"}},
		{"nkey", func() *server.Options { return &server.Options{Nkeys: []*server.NkeyUser{{Nkey: upub}}} },
			NATSAuth{NkeyFile: seedFile}, NATSAuth{NkeyFile: otherSeedFile}},
		{"creds", credsOpts, NATSAuth{CredsFile: credsFile}, NATSAuth{User: "u", Password: "p"}},
		{"tls", tlsOpts,
			NATSAuth{TLS: TLSFiles{CA: pki.CA, Cert: pki.ClientCert, Key: pki.ClientKey}},
			NATSAuth{TLS: TLSFiles{CA: pki.OtherCA, Cert: pki.ClientCert, Key: pki.ClientKey}}},
		{"tls without client certificate", tlsOpts,
			NATSAuth{TLS: TLSFiles{CA: pki.CA, Cert: pki.ClientCert, Key: pki.ClientKey}},
			NATSAuth{TLS: TLSFiles{CA: pki.CA}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startNATS(t, tc.opts())
			url := srv.ClientURL()
			log := testenv.Logger(t)
			opts, err := tc.good.options()
			if err != nil {
				t.Fatal(err)
			}
			nc, err := connectNATS(context.Background(), url, 10*time.Second, log, opts...)
			if err != nil {
				t.Fatalf("good credentials: %v", err)
			}
			if err := nc.Publish("x", nil); err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			nc.Close()

			opts, err = tc.bad.options()
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			nc, err = connectNATS(context.Background(), url, 10*time.Second, log, opts...)
			if err == nil {
				nc.Close()
				t.Fatal("bad credentials accepted")
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("bad credentials were retried for %v: %v", d, err)
			}
			t.Logf("bad credentials: %v", err)
		})
	}
}

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// operatorMode returns a creds file and the options of a server that
// trusts the operator that signed its account.
func operatorMode(t *testing.T, dir string) (credsFile string, opts func() *server.Options) {
	t.Helper()
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	ojwt, err := jwt.NewOperatorClaims(opub).Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	ajwt, err := jwt.NewAccountClaims(apub).Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	useed, _ := ukp.Seed()
	ujwt, err := jwt.NewUserClaims(upub).Encode(akp)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := jwt.FormatUserConfig(ujwt, useed)
	if err != nil {
		t.Fatal(err)
	}
	credsFile = filepath.Join(dir, "user.creds")
	writeFile(t, credsFile, creds)
	oc, err := jwt.DecodeOperatorClaims(ojwt)
	if err != nil {
		t.Fatal(err)
	}
	return credsFile, func() *server.Options {
		r := &server.MemAccResolver{}
		if err := r.Store(apub, ajwt); err != nil {
			t.Fatal(err)
		}
		return &server.Options{TrustedOperators: []*jwt.OperatorClaims{oc}, AccountResolver: r}
	}
}

// TestNATSFilesFailAtOnce: a missing or malformed key, credentials or
// certificate file is reported before any connection is tried.
func TestNATSFilesFailAtOnce(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	writeFile(t, junk, []byte("not a key"))
	missing := filepath.Join(dir, "missing")
	for _, a := range []NATSAuth{
		{NkeyFile: missing}, {NkeyFile: junk}, {CredsFile: missing}, {CredsFile: junk},
		{TLS: TLSFiles{CA: missing}}, {TLS: TLSFiles{CA: junk}}, {TLS: TLSFiles{Cert: junk, Key: junk}},
	} {
		if _, err := a.options(); err == nil {
			t.Errorf("%+v accepted", a)
		}
	}
}
