package loadgen

import (
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		err   string // substring; "" means success
		check func(t *testing.T, c *Config)
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c *Config) {
				if c.URL != "nats://127.0.0.1:4222" || c.Prefix != "stock" || c.C != 256 || c.Conns != 4 ||
					c.Duration != 10*time.Second || c.Timeout != 2*time.Second || c.N != 1 || c.SKUs != 1 ||
					c.Stock != 1_000_000 || c.SKUPrefix != "load" || c.Dist != "uniform" || !c.closedLoop() {
					t.Fatalf("defaults: %+v", c)
				}
				if c.nullSubject() != "stock.loadgen-null" {
					t.Fatalf("null subject %q", c.nullSubject())
				}
			},
		},
		{
			name: "environment",
			env:  map[string]string{"STOCK_NATS": "nats://10.0.0.1:4222", "STOCK_PREFIX": "shop"},
			check: func(t *testing.T, c *Config) {
				if c.URL != "nats://10.0.0.1:4222" || c.Prefix != "shop" || c.nullSubject() != "shop.loadgen-null" {
					t.Fatalf("env: %+v", c)
				}
			},
		},
		{
			name: "flags beat environment",
			args: []string{"-nats", "nats://h:1", "-prefix", "p"},
			env:  map[string]string{"STOCK_NATS": "nats://10.0.0.1:4222", "STOCK_PREFIX": "shop"},
			check: func(t *testing.T, c *Config) {
				if c.URL != "nats://h:1" || c.Prefix != "p" {
					t.Fatalf("flags: %+v", c)
				}
			},
		},
		{
			name: "requests alone lifts the time bound",
			args: []string{"-requests", "100"},
			check: func(t *testing.T, c *Config) {
				if c.Duration != 0 || c.Requests != 100 {
					t.Fatalf("%+v", c)
				}
			},
		},
		{
			name: "requests and duration",
			args: []string{"-requests", "100", "-d", "3s"},
			check: func(t *testing.T, c *Config) {
				if c.Duration != 3*time.Second || c.Requests != 100 {
					t.Fatalf("%+v", c)
				}
			},
		},
		{
			name: "open loop",
			args: []string{"-rate", "5000", "-conns", "8", "-c", "1", "-dist", "zipf", "-skus", "10", "-null", "-json"},
			check: func(t *testing.T, c *Config) {
				if c.closedLoop() || c.Rate != 5000 || c.Conns != 8 || c.Dist != "zipf" || !c.Null || !c.JSON {
					t.Fatalf("%+v", c)
				}
			},
		},
		{
			name: "batch",
			args: []string{"-batch", "8192", "-skus", "1000"},
			check: func(t *testing.T, c *Config) {
				if c.Batch != 8192 {
					t.Fatalf("%+v", c)
				}
			},
		},
		{
			name: "buyers",
			args: []string{"-per-buyer", "2", "-buyers", "1000000", "-buyer-prefix", "u:x@y."},
			check: func(t *testing.T, c *Config) {
				if c.PerBuyer != 2 || c.Buyers != 1_000_000 || c.BuyerPrefix != "u:x@y." {
					t.Fatalf("%+v", c)
				}
			},
		},
		{
			name: "buyers without a cap, holds, existing SKUs",
			args: []string{"-buyers", "5", "-op", "hold", "-existing"},
			check: func(t *testing.T, c *Config) {
				if c.PerBuyer != 0 || c.Buyers != 5 || c.BuyerPrefix != "b-" {
					t.Fatalf("%+v", c)
				}
			},
		},
		{name: "per-buyer without buyers", args: []string{"-per-buyer", "1"}, err: "-per-buyer needs -buyers"},
		{name: "per-buyer with existing", args: []string{"-per-buyer", "1", "-buyers", "9", "-existing"}, err: "with -existing they keep their own cap"},
		{name: "buyers with batch", args: []string{"-buyers", "9", "-batch", "8"}, err: "-buyers takes no -batch"},
		{name: "per-buyer with batch", args: []string{"-per-buyer", "1", "-buyers", "9", "-batch", "8"}, err: "-per-buyer takes no -batch"},
		{name: "negative per-buyer", args: []string{"-per-buyer", "-1"}, err: "-per-buyer must not be negative"},
		{name: "negative buyers", args: []string{"-buyers", "-1"}, err: "-buyers must not be negative"},
		{name: "bad buyer prefix", args: []string{"-buyers", "3", "-buyer-prefix", "a b"}, err: `buyer ids like "a b2"`},
		{name: "buyer ids too long", args: []string{"-buyers", "1000", "-buyer-prefix", strings.Repeat("b", 126)}, err: "are not 1 to 128"},
		{name: "negative batch", args: []string{"-batch", "-1"}, err: "-batch must be from 0 to 8192, got -1"},
		{name: "batch too large", args: []string{"-batch", "8193"}, err: "-batch must be from 0 to 8192, got 8193"},
		{name: "batch message too large", args: []string{"-batch", "8192", "-sku-prefix", strings.Repeat("s", 125)},
			err: "makes messages of up to"},
		{name: "unknown flag", args: []string{"-bogus"}, err: "flag provided but not defined: -bogus"},
		{name: "bad number", args: []string{"-c", "many"}, err: `invalid value "many" for flag -c`},
		{name: "positional", args: []string{"extra"}, err: `unexpected argument "extra"`},
		{name: "zero c", args: []string{"-c", "0"}, err: "-c must be at least 1, got 0"},
		{name: "zero conns", args: []string{"-conns", "0"}, err: "-conns must be at least 1"},
		{name: "more conns than c", args: []string{"-c", "2", "-conns", "3"}, err: "-conns (3) must not exceed -c (2)"},
		{name: "negative rate", args: []string{"-rate", "-1"}, err: "-rate must not be negative"},
		{name: "zero n", args: []string{"-n", "0"}, err: "-n must be at least 1"},
		{name: "zero skus", args: []string{"-skus", "0"}, err: "-skus must be at least 1"},
		{name: "negative stock", args: []string{"-stock", "-5"}, err: "-stock must not be negative"},
		{name: "bad dist", args: []string{"-dist", "pareto"}, err: `-dist must be uniform or zipf, got "pareto"`},
		{name: "bad zipf s", args: []string{"-dist", "zipf", "-zipf-s", "1"}, err: "-zipf-s must be greater than 1"},
		{name: "zero timeout", args: []string{"-timeout", "0s"}, err: "-timeout must be positive"},
		{name: "negative warmup", args: []string{"-warmup", "-1s"}, err: "-warmup must not be negative"},
		{name: "no end", args: []string{"-d", "0"}, err: "the run would never end"},
		{name: "wildcard prefix", args: []string{"-prefix", "stock.*"}, err: `-prefix "stock.*"`},
		{name: "dotted sku prefix", args: []string{"-sku-prefix", "a.b"}, err: `-sku-prefix "a.b"`},
		{name: "bad null subject", args: []string{"-null-subject", "a..b"}, err: `-null-subject "a..b"`},
		{name: "existing with only-null", args: []string{"-existing", "-only-null"}, err: "-existing makes no sense with -only-null"},
		{name: "zero null subs", args: []string{"-null-subs", "0"}, err: "-null-subs must be at least 1"},
		{name: "two errors", args: []string{"-n", "0", "-c", "0"}, err: "-c must be at least 1, got 0\nloadgen: -n must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Main{Getenv: func(k string) string { return tt.env[k] }}
			err := m.ParseFlags(tt.args)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("ParseFlags(%q): %v", tt.args, err)
				}
				if tt.check != nil {
					tt.check(t, &m.Config)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("ParseFlags(%q) = %v, want an error containing %q", tt.args, err, tt.err)
			}
		})
	}
}

func TestParseFlagsHelp(t *testing.T) {
	var out strings.Builder
	m := &Main{Stderr: &out}
	if err := m.ParseFlags([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	if !strings.Contains(out.String(), "usage: loadgen") || !strings.Contains(out.String(), "-only-null") ||
		!strings.Contains(out.String(), "-per-buyer k") || !strings.Contains(out.String(), "-buyers N") {
		t.Fatalf("usage text:\n%s", out.String())
	}
}
