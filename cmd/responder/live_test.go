package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/internal/testenv"
)

// liveJSON fetches and decodes /live.json of m.
func liveJSON(t *testing.T, m *Main) liveView {
	t.Helper()
	code, body := get(t, m.HTTPAddr(), "/live.json")
	var v liveView
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
		t.Fatalf("/live.json: %d %s (%v)", code, body, err)
	}
	return v
}

// TestLiveJSON: the leader's view lists its SKUs, those sold most first,
// with their figures; a standby's view shows the same figures, read from
// the leader, and names it.
func TestLiveJSON(t *testing.T) {
	srv := testenv.NATS(t)
	etcd := testenv.Endpoint(testenv.Etcd(t))
	leader, _ := startMain(t, nil, "-id", "node-a", "-nats", srv.ClientURL(), "-etcd", etcd)
	waitLeading(t, leader)
	standby, _ := startMain(t, nil, "-id", "node-b", "-nats", srv.ClientURL(), "-etcd", etcd)
	nc := testenv.Connect(t, srv.ClientURL())
	req(t, nc, "stock.admin.set.a", `{"limit":10}`)
	req(t, nc, "stock.admin.set.b", `{"limit":10}`)
	req(t, nc, "stock.acquire.b", `{"n":3}`)
	req(t, nc, "stock.hold.b", `{"n":2,"id":"cart-1"}`)

	want := `[{"sku":"b","limit":10,"sold":5,"held":2,"remaining":5},{"sku":"a","limit":10,"sold":0,"held":0,"remaining":10}]`
	v := liveJSON(t, leader)
	got, _ := json.Marshal(v.SKUs)
	if !v.Leading || v.Leader != "node-a" || v.Node != "node-a" || v.Total != 2 || string(got) != want || v.Error != "" {
		t.Fatalf("leader's view %+v %s, want %s", v, got, want)
	}
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		v = liveJSON(t, standby)
		got, _ = json.Marshal(v.SKUs) // the standby lists SKUs by name
		if v.Leading || v.Leader != "node-a" || v.Node != "node-b" || v.Total != 2 || v.Error != "" || len(v.SKUs) != 2 {
			return fmt.Errorf("standby's view %+v", v)
		}
		return nil
	})
	if want := `[{"sku":"a","limit":10,"sold":0,"held":0,"remaining":10},{"sku":"b","limit":10,"sold":5,"held":2,"remaining":5}]`; string(got) != want {
		t.Fatalf("standby's view lists %s, want %s", got, want)
	}
	if code, body := get(t, standby.HTTPAddr(), "/"); code != 200 || !strings.Contains(body, "live.json") {
		t.Fatalf("/: %d %.80q", code, body)
	}
}

// chromium finds the browser of the page test: $STOCK_CHROMIUM, or chromium
// on the PATH. Without one the test is skipped, unless
// STOCK_BROWSER_TESTS=require (as .ci/run sets, having installed it).
func chromium(t *testing.T) string {
	if p := os.Getenv("STOCK_CHROMIUM"); p != "" {
		return p
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("STOCK_BROWSER_TESTS") == "require" {
			t.Fatalf("STOCK_BROWSER_TESTS=require and no chromium: %v", err)
		}
		t.Skip("no chromium on the PATH (apt-get install chromium; .ci/run does)")
	}
	return p
}

// render loads url in headless Chromium, lets its scripts run for 2.5 s of
// virtual time, and returns the DOM.
func render(t *testing.T, browser, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=2500", "--dump-dom", url)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", browser, err)
	}
	return string(out)
}

var (
	leaderText = regexp.MustCompile(`<span id="leader">([^<]*)</span>`)
	flashRow   = regexp.MustCompile(`<tr data-sku="flash"[^>]*>.*?<td class="sold">(\d+)</td>.*?<td class="remaining">(\d+)</td>`)
)

// TestLivePageInChromium: the page of / renders in a real browser, names
// the leader, lists the SKU on sale, and its figures change under load.
func TestLivePageInChromium(t *testing.T) {
	browser := chromium(t)
	m, _ := runMain(t, t.TempDir())
	nc := testenv.Connect(t, m.NATSURL())
	req(t, nc, "stock.admin.set.flash", `{"limit":1000000}`)

	var stop atomic.Bool
	done := make(chan struct{})
	go func() { // at most 1,000,000 units, and only while the test runs
		defer close(done)
		for !stop.Load() {
			if _, err := nc.Request("stock.acquire.flash", []byte(`{"n":1}`), time.Second); err != nil && err != nats.ErrTimeout {
				return
			}
		}
	}()
	t.Cleanup(func() { stop.Store(true); <-done })

	url := "http://" + m.HTTPAddr() + "/"
	read := func() (sold, remaining int64) {
		t.Helper()
		dom := render(t, browser, url)
		if l := leaderText.FindStringSubmatch(dom); l == nil || l[1] != "node-a" {
			t.Fatalf("the page names leader %q, want node-a:\n%.2000s", l, dom)
		}
		row := flashRow.FindStringSubmatch(dom)
		if row == nil {
			t.Fatalf("the page has no row for sku flash:\n%.2000s", dom)
		}
		sold, _ = strconv.ParseInt(row[1], 10, 64)
		remaining, _ = strconv.ParseInt(row[2], 10, 64)
		if sold+remaining != 1_000_000 {
			t.Fatalf("the page shows sold %d and remaining %d of 1000000", sold, remaining)
		}
		return sold, remaining
	}
	sold1, _ := read()
	testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		if sold2, _ := read(); sold2 <= sold1 {
			return fmt.Errorf("sold %d, then %d: the page did not change under load", sold1, sold2)
		}
		return nil
	})
}
