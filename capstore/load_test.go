package capstore_test

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/stock"
)

func TestLoadCorrupt(t *testing.T) {
	cli, s := setup(t, "")
	s.PageSize = 2
	rev, _ := lead(t, cli, "/stock/leader/n1")
	good := map[string]stock.Record{"good1": {Limit: 100, Cap: 57}, "good2": {Limit: 0, Cap: 0}, "z-good": {Limit: 7, Cap: 7}}
	if ok, err := s.Commit(ctx(t), "/stock/leader/n1", rev, good, nil); err != nil || !ok {
		t.Fatalf("Commit = %v, %v", ok, err)
	}
	corrupt := map[string]string{
		"abc":          "abc",
		"negative":     `{"limit":-1,"cap":0}`,
		"cap-above":    `{"limit":1,"cap":2}`,
		"missing-cap":  `{"limit":1}`,
		"empty":        ``,
		"float":        `{"limit":1.5,"cap":0}`,
		"extra-field":  `{"limit":1,"cap":0,"sold":0}`,
		"long-garbage": strings.Repeat("x", 1000),
	}
	for sku, v := range corrupt {
		if _, err := cli.Put(ctx(t), "/stock/sku/"+sku, v); err != nil {
			t.Fatal(err)
		}
	}
	// Keys outside <prefix>/sku/ are not records.
	if _, err := cli.Put(ctx(t), "/stock/skux", "abc"); err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, recs map[string]stock.Record, bad map[string]error) {
		t.Helper()
		if !maps.Equal(recs, good) {
			t.Errorf("records %v, want %v", recs, good)
		}
		if len(bad) != len(corrupt) {
			t.Errorf("bad has %d entries, want %d: %v", len(bad), len(corrupt), bad)
		}
		for sku, v := range corrupt {
			err := bad[sku]
			if !errors.Is(err, capstore.ErrCorrupt) {
				t.Errorf("bad[%q] = %v, want ErrCorrupt", sku, err)
				continue
			}
			msg := err.Error()
			if !strings.Contains(msg, `"/stock/sku/`+sku+`"`) {
				t.Errorf("bad[%q] = %q does not name the key", sku, msg)
			}
			if len(v) < 100 && !strings.Contains(msg, strings.Trim(fmt.Sprintf("%q", v), `"`)) {
				t.Errorf("bad[%q] = %q does not show the value %q", sku, msg, v)
			}
			if len(msg) > 400 {
				t.Errorf("bad[%q] message is %d bytes long", sku, len(msg))
			}
		}
	}

	recs, bad, err := s.Load(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	check(t, recs, bad)
	if n, err := s.CountSKUs(ctx(t)); err != nil || n != int64(len(good)+len(corrupt)) {
		t.Errorf("CountSKUs = %d, %v, want %d", n, err, len(good)+len(corrupt))
	}

	skus := []string{"nope"}
	for sku := range good {
		skus = append(skus, sku)
	}
	for sku := range corrupt {
		skus = append(skus, sku)
	}
	recs, bad, err = s.Get(ctx(t), skus)
	if err != nil {
		t.Fatal(err)
	}
	check(t, recs, bad)
}

func TestLoadEmpty(t *testing.T) {
	_, s := setup(t, "")
	recs, bad, err := s.Load(ctx(t))
	if err != nil || len(recs) != 0 || len(bad) != 0 {
		t.Errorf("Load of an empty store = %v, %v, %v", recs, bad, err)
	}
	recs, bad, err = s.Get(ctx(t), nil)
	if err != nil || len(recs) != 0 || len(bad) != 0 {
		t.Errorf("Get of nothing = %v, %v, %v", recs, bad, err)
	}
}

// TestLoadOneRevision writes while Load pages through the SKUs: every Load
// must see one Commit's records entirely or not at all.
func TestLoadOneRevision(t *testing.T) {
	cli, s := setup(t, "")
	s.PageSize = 3
	const leader = "/stock/leader/n1"
	rev, _ := lead(t, cli, leader)
	batch := func(limit int64) map[string]stock.Record {
		m := map[string]stock.Record{}
		for _, sku := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
			m[sku] = stock.Record{Limit: limit, Cap: limit}
		}
		return m
	}
	if ok, err := s.Commit(ctx(t), leader, rev, batch(0), nil); err != nil || !ok {
		t.Fatalf("Commit = %v, %v", ok, err)
	}
	c := ctx(t)
	done := make(chan error, 1) // buffered: the writer never blocks, even if the test failed
	go func() {
		defer close(done)
		for l := int64(1); l <= 50; l++ {
			if ok, err := s.Commit(c, leader, rev, batch(l), nil); err != nil || !ok {
				done <- fmt.Errorf("Commit = %v, %v", ok, err)
				return
			}
		}
	}()
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		default:
		}
		recs, _, err := s.Load(c)
		if err != nil {
			t.Fatal(err)
		}
		if l := recs["a"].Limit; !maps.Equal(recs, batch(l)) {
			t.Fatalf("Load mixed revisions: %v", recs)
		}
	}
}
