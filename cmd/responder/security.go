package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TLSFiles name the PEM files of a TLS client: the CAs it trusts (empty:
// the system's) and its own certificate and key (empty: none). Setting any
// of them turns TLS on. The files are read once, at start: a rotated
// certificate takes effect at the next start.
type TLSFiles struct {
	CA, Cert, Key string
}

func (f TLSFiles) enabled() bool { return f.CA != "" || f.Cert != "" || f.Key != "" }

func (f TLSFiles) validate(flagPrefix string) error {
	if (f.Cert == "") != (f.Key == "") {
		return fmt.Errorf("-%s-cert and -%s-key go together", flagPrefix, flagPrefix)
	}
	return nil
}

// config reads the files into a client TLS configuration, or returns nil
// when TLS is off. The server name is left empty: the NATS and etcd clients
// take it from the address they dial.
func (f TLSFiles) config() (*tls.Config, error) {
	if !f.enabled() {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no PEM certificate in %s", f.CA)
		}
		cfg.RootCAs = pool
	}
	if f.Cert != "" {
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// NATSAuth is how the responder proves who it is to NATS: at most one of
// user and password, token, nkey seed file or credentials file, and
// optionally TLS (which may carry a client certificate as well).
type NATSAuth struct {
	User, Password string
	Token          string
	NkeyFile       string
	CredsFile      string
	TLS            TLSFiles
}

func (a NATSAuth) set() bool {
	return a.User != "" || a.Password != "" || a.Token != "" || a.NkeyFile != "" || a.CredsFile != "" || a.TLS.enabled()
}

// validate checks that the settings go together; external says whether a
// NATS server is named (the embedded one takes no credentials).
func (a NATSAuth) validate(external bool) error {
	if a.set() && !external {
		return errors.New("-nats-user, -nats-token, -nats-nkey, -nats-creds and -nats-ca/-cert/-key need -nats: the embedded NATS server takes no credentials")
	}
	if (a.User == "") != (a.Password == "") {
		return errors.New("-nats-user and -nats-password go together")
	}
	methods := 0
	for _, s := range []string{a.User, a.Token, a.NkeyFile, a.CredsFile} {
		if s != "" {
			methods++
		}
	}
	if methods > 1 {
		return errors.New("give at most one of -nats-user, -nats-token, -nats-nkey and -nats-creds")
	}
	return a.TLS.validate("nats")
}

// options returns the nats.Connect options of the settings. It reads the
// key, credentials and certificate files now, so that a missing or bad file
// fails the start at once instead of every connection attempt.
func (a NATSAuth) options() ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case a.User != "":
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	case a.Token != "":
		opts = append(opts, nats.Token(a.Token))
	case a.NkeyFile != "":
		opt, err := nats.NkeyOptionFromSeed(a.NkeyFile)
		if err != nil {
			return nil, fmt.Errorf("-nats-nkey: %w", err)
		}
		opts = append(opts, opt)
	case a.CredsFile != "":
		if err := checkCreds(a.CredsFile); err != nil {
			return nil, fmt.Errorf("-nats-creds: %w", err)
		}
		// Read again at each connection, so a renewed file is picked up.
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	}
	tc, err := a.TLS.config()
	if err != nil {
		return nil, fmt.Errorf("NATS TLS: %w", err)
	}
	if tc != nil {
		opts = append(opts, nats.Secure(tc))
	}
	return opts, nil
}

// checkCreds reads a credentials file as nats.UserCredentials will.
func checkCreds(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if _, err := nkeys.ParseDecoratedJWT(data); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if _, err := nkeys.ParseDecoratedUserNKey(data); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// EtcdAuth is how the responder proves who it is to etcd: a user and
// password (etcd's auth must be enabled, and the user granted read and
// write on -etcd-prefix), TLS, or both.
type EtcdAuth struct {
	User, Password string
	TLS            TLSFiles
}

func (a EtcdAuth) validate(external bool) error {
	if (a.User != "" || a.Password != "" || a.TLS.enabled()) && !external {
		return errors.New("-etcd-user, -etcd-password and -etcd-ca/-cert/-key need -etcd: the embedded etcd takes no credentials")
	}
	if (a.User == "") != (a.Password == "") {
		return errors.New("-etcd-user and -etcd-password go together")
	}
	return a.TLS.validate("etcd")
}

// apply sets the credentials and TLS of cfg, reading the certificate files.
func (a EtcdAuth) apply(cfg *clientv3.Config) error {
	cfg.Username, cfg.Password = a.User, a.Password
	tc, err := a.TLS.config()
	if err != nil {
		return fmt.Errorf("etcd TLS: %w", err)
	}
	cfg.TLS = tc
	return nil
}
