package client

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		name     string
		min, max time.Duration
		ceilings []time.Duration // of retries 1, 2, ...
	}{
		{"doubling to max", 5 * time.Millisecond, 30 * time.Millisecond,
			[]time.Duration{5e6, 10e6, 20e6, 30e6, 30e6}},
		{"min is max", time.Second, time.Second, []time.Duration{1e9, 1e9, 1e9}},
		{"huge max", time.Nanosecond, 1<<63 - 1, []time.Duration{1, 2, 4, 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{cfg: Config{BackoffMin: tt.min, BackoffMax: tt.max}}
			for i, ceiling := range tt.ceilings {
				var top time.Duration
				for range 2000 {
					d := c.backoff(i + 1)
					if d < 0 || d >= ceiling {
						t.Fatalf("retry %d waits %v, want [0, %v)", i+1, d, ceiling)
					}
					top = max(top, d)
				}
				if ceiling > 1 && top < ceiling/2 {
					t.Fatalf("retry %d: longest of 2000 waits %v, want some near %v", i+1, top, ceiling)
				}
			}
			// Far along, the ceiling stays at max without overflowing.
			for _, n := range []int{64, 100, 1 << 20} {
				if d := c.backoff(n); d < 0 || d >= tt.max {
					t.Fatalf("retry %d waits %v, want [0, %v)", n, d, tt.max)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"two-token prefix", func(c *Config) { c.Prefix = "shop.stock" }, true},
		{"no call timeout", func(c *Config) { c.CallTimeout = 0 }, true},
		{"empty prefix", func(c *Config) { c.Prefix = "" }, false},
		{"prefix with wildcard", func(c *Config) { c.Prefix = "stock.*" }, false},
		{"prefix with trailing dot", func(c *Config) { c.Prefix = "stock." }, false},
		{"prefix with empty token", func(c *Config) { c.Prefix = "a..b" }, false},
		{"prefix with space", func(c *Config) { c.Prefix = "a b" }, false},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, false},
		{"negative call timeout", func(c *Config) { c.CallTimeout = -1 }, false},
		{"zero backoff", func(c *Config) { c.BackoffMin = 0 }, false},
		{"max below min", func(c *Config) { c.BackoffMax = c.BackoffMin - 1 }, false},
		{"batch", func(c *Config) { c.Batch = true }, true},
		{"batch of one, many in flight", func(c *Config) { c.Batch, c.MaxBatch, c.MaxInFlight = true, 1, 8 }, true},
		{"largest batch", func(c *Config) { c.Batch, c.MaxBatch = true, 8192 }, true},
		{"batch too large", func(c *Config) { c.Batch, c.MaxBatch = true, 8193 }, false},
		{"empty batch", func(c *Config) { c.Batch, c.MaxBatch = true, 0 }, false},
		{"nothing in flight", func(c *Config) { c.Batch, c.MaxInFlight = true, 0 }, false},
		{"batch settings unused without batch", func(c *Config) { c.MaxBatch, c.MaxInFlight = 0, 0 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestUnitsBody(t *testing.T) {
	tests := []struct {
		n         int64
		id, buyer string
		want      string
	}{
		{1, "ABC234", "", `{"n":1,"id":"ABC234"}`},
		{-5, "order-42", "", `{"n":-5,"id":"order-42"}`},
		{2, `a"b\c`, "", `{"n":2,"id":"a\"b\\c"}`},
		{3, "caf\u00e9\n", "", `{"n":3,"id":"café\n"}`},
		{1, "ABC234", "u-1@x.y", `{"n":1,"id":"ABC234","buyer":"u-1@x.y"}`},
		{2, `a"b`, "u-1", `{"n":2,"id":"a\"b","buyer":"u-1"}`},
	}
	for _, tt := range tests {
		if got := string(unitsBody(tt.n, tt.id, tt.buyer)); got != tt.want {
			t.Errorf("unitsBody(%d, %q, %q) = %s, want %s", tt.n, tt.id, tt.buyer, got, tt.want)
		}
	}
}
