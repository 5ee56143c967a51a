package main

import (
	"bytes"
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	env := map[string]string{"STOCK_ID": "from-env", "STOCK_ETCD": "a:1, b:2", "STOCK_PREFIX": "shop"}
	getenv := func(k string) string { return env[k] }
	m := NewMain()
	if err := m.ParseFlags([]string{"-prefix", "flag"}, getenv); err != nil {
		t.Fatal(err)
	}
	o := m.Options
	if o.ID != "from-env" || o.Prefix != "flag" || strings.Join(o.Etcd, ",") != "a:1,b:2" || o.LeaseTTL != 5*time.Second ||
		o.NATS != "" || o.ConnectTimeout != 30*time.Second || o.HTTP != "127.0.0.1:9464" {
		t.Fatalf("options: %+v", o)
	}
}

// TestParseFlagsRejects: each bad setting, by flag or by environment, is an
// error naming what is wrong.
func TestParseFlagsRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"ttl not whole seconds", []string{"-lease-ttl", "1500ms"}, nil, "whole seconds"},
		{"ttl not a duration", []string{"-lease-ttl", "x"}, nil, "lease-ttl"},
		{"write depth 0", []string{"-write-depth", "0"}, nil, "write-depth"},
		{"write depth 9", []string{"-write-depth", "9"}, nil, "write-depth"},
		{"ttl from env", nil, map[string]string{"STOCK_LEASE_TTL": "x"}, "STOCK_LEASE_TTL"},
		{"log level", []string{"-log-level", "loud"}, nil, "log-level"},
		{"unknown flag", []string{"-no-such-flag"}, nil, "not defined"},
		{"argument", []string{"extra"}, nil, "unexpected argument"},
		{"empty id", []string{"-id", ""}, nil, "-id"},
		{"connect timeout", []string{"-connect-timeout", "0s"}, nil, "-connect-timeout"},
		{"nats user without password", []string{"-nats", "nats://h:4222", "-nats-user", "u"}, nil, "-nats-password"},
		{"nats password without user", []string{"-nats", "nats://h:4222"}, map[string]string{"STOCK_NATS_PASSWORD": "p"}, "-nats-user"},
		{"two nats methods", []string{"-nats", "nats://h:4222", "-nats-token", "t", "-nats-nkey", "f"}, nil, "at most one"},
		{"nats cert without key", []string{"-nats", "nats://h:4222", "-nats-cert", "c"}, nil, "-nats-key"},
		{"nats credentials for the embedded server", []string{"-nats-token", "t"}, nil, "need -nats"},
		{"etcd user without password", []string{"-etcd", "h:2379", "-etcd-user", "u"}, nil, "-etcd-password"},
		{"etcd key without cert", []string{"-etcd", "h:2379", "-etcd-key", "k"}, nil, "-etcd-cert"},
		{"etcd TLS for the embedded etcd", []string{"-etcd-ca", "ca.pem"}, nil, "need -etcd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := NewMain().ParseFlags(tc.args, func(k string) string { return tc.env[k] })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestEveryFlagReadsItsEnvironmentVariable sets each flag's variable alone
// and checks that the flag took the value, that a flag on the command line
// wins over it, and that -h names the variable.
func TestEveryFlagReadsItsEnvironmentVariable(t *testing.T) {
	// A valid value of each flag, and what must be external for it to be
	// accepted.
	values := map[string]string{
		"connect-timeout": "7s", "lease-ttl": "3s", "log-level": "DEBUG", "write-depth": "3", "partitions": "16",
		"nats-user": "u", "nats-password": "p", "etcd-user": "u", "etcd-password": "p",
		"nats-cert": "c.pem", "nats-key": "k.pem", "etcd-cert": "c.pem", "etcd-key": "k.pem",
	}
	companions := map[string][]string{
		"nats-user": {"-nats-password", "x"}, "nats-password": {"-nats-user", "x"},
		"etcd-user": {"-etcd-password", "x"}, "etcd-password": {"-etcd-user", "x"},
		"nats-cert": {"-nats-key", "x"}, "nats-key": {"-nats-cert", "x"},
		"etcd-cert": {"-etcd-key", "x"}, "etcd-key": {"-etcd-cert", "x"},
	}
	var help bytes.Buffer
	Usage(&help)
	fs := newFlagSet(&Options{})
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		if !hasEnv(f.Name) {
			return
		}
		n++
		name := envName(f.Name)
		t.Run(f.Name, func(t *testing.T) {
			if !strings.Contains(help.String(), "-"+f.Name+" ") || !strings.Contains(help.String(), "[$"+name+"]") {
				t.Errorf("-h does not list -%s with $%s", f.Name, name)
			}
			v, ok := values[f.Name]
			if !ok {
				v = "x-" + f.Name
			}
			args := append([]string{"-nats", "nats://n:4222", "-etcd", "e:2379"}, companions[f.Name]...)
			if f.Name == "nats" || f.Name == "etcd" {
				args = args[4:]
				if f.Name == "nats" {
					args = append(args, "-etcd", "e:2379")
				} else {
					args = append(args, "-nats", "nats://n:4222")
				}
			}
			m := NewMain()
			if err := m.ParseFlags(args, func(k string) string {
				if k == name {
					return v
				}
				return ""
			}); err != nil {
				t.Fatalf("%s=%s: %v", name, v, err)
			}
			got := flagValue(t, &m.Options, f.Name)
			if want := normalized(t, f.Name, v); got != want {
				t.Fatalf("%s=%s: -%s is %q, want %q", name, v, f.Name, got, want)
			}

			// The flag wins.
			m = NewMain()
			if err := m.ParseFlags(append(args, "-"+f.Name+"="+v), func(k string) string {
				if k == name {
					return "ignored"
				}
				return ""
			}); err != nil {
				t.Fatalf("-%s=%s with %s set: %v", f.Name, v, name, err)
			}
			if got := flagValue(t, &m.Options, f.Name); got != normalized(t, f.Name, v) {
				t.Fatalf("-%s=%s with %s set: got %q", f.Name, v, name, got)
			}
		})
	})
	if n < 25 {
		t.Fatalf("only %d flags with variables", n)
	}
}

// flagValue prints flag name's value in o.
func flagValue(t *testing.T, o *Options, name string) string {
	t.Helper()
	var cp Options
	fs := newFlagSet(&cp) // binds the flags to cp and sets the defaults...
	cp = *o               // ...which o's values then replace
	f := fs.Lookup(name)
	if f == nil {
		t.Fatalf("no flag -%s", name)
	}
	return f.Value.String()
}

// normalized is how flag name prints value v.
func normalized(t *testing.T, name, v string) string {
	t.Helper()
	fs := newFlagSet(new(Options))
	if err := fs.Set(name, v); err != nil {
		t.Fatal(err)
	}
	return fs.Lookup(name).Value.String()
}

func TestHelpAndVersionAreNotErrors(t *testing.T) {
	if err := NewMain().ParseFlags([]string{"-h"}, func(string) string { return "" }); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v, want flag.ErrHelp", err)
	}
	m := NewMain()
	// -version needs nothing else to be valid.
	if err := m.ParseFlags([]string{"-version"}, func(string) string { return "bad" }); err != nil || !m.Options.Version {
		t.Fatalf("-version: %v", err)
	}
}

func TestRedactURLs(t *testing.T) {
	got := redactURLs("nats://u:secret@a:4222, nats://b:4222,tls://t@c:4222")
	if strings.Contains(got, "secret") || !strings.Contains(got, "u:xxxxx@a:4222") || !strings.Contains(got, "nats://b:4222") {
		t.Fatalf("redacted: %q", got)
	}
	if !reflect.DeepEqual(redactURLs("nats://a:4222"), "nats://a:4222") {
		t.Fatal("changed a URL without password")
	}
}
