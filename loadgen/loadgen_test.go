package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stockstate/stock/internal/testenv"
)

// logWriter sends output through t.Log, so it shows only when a test fails.
type logWriter struct {
	t  testing.TB
	mu sync.Mutex
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// runLoadgen parses args and runs loadgen against url; it returns the
// summary, the report on stdout and Run's error.
func runLoadgen(t *testing.T, ctx context.Context, url string, args ...string) (*Summary, string, error) {
	t.Helper()
	var out bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &logWriter{t: t}, Getenv: func(k string) string {
		if k == "STOCK_NATS" {
			return url
		}
		return ""
	}}
	if err := m.ParseFlags(args); err != nil {
		t.Fatalf("ParseFlags(%q): %v", args, err)
	}
	err := m.Run(ctx)
	t.Logf("report of loadgen %s:\n%s", strings.Join(args, " "), out.String())
	return m.Summary, out.String(), err
}

// checkPhase checks the accounting of a phase: every attempt sent ended in
// exactly one way, the latency histogram holds every reply, and the
// percentiles are ordered.
func checkPhase(t *testing.T, name string, p *PhaseSummary) {
	t.Helper()
	if p == nil {
		t.Fatalf("%s: no phase summary", name)
	}
	var outcomes int64
	for _, n := range p.Counts {
		outcomes += n
	}
	if outcomes != p.Sent {
		t.Errorf("%s: outcomes add up to %d, sent %d: %v", name, outcomes, p.Sent, p.Counts)
	}
	replies := outcomes - p.Counts["no_responders"] - p.Counts["timeout"] - p.Counts["send_error"]
	if replies != p.Replies {
		t.Errorf("%s: replies %d, counts say %d", name, p.Replies, replies)
	}
	if p.Latency.Count != p.Replies {
		t.Errorf("%s: %d latencies for %d replies", name, p.Latency.Count, p.Replies)
	}
	l := p.Latency
	if p.Replies > 0 && !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Errorf("%s: percentiles out of order: %+v", name, l)
	}
	if p.Replies > 0 && p.Throughput <= 0 {
		t.Errorf("%s: throughput %v", name, p.Throughput)
	}
}

func TestOnlyNullClosedLoop(t *testing.T) {
	srv := testenv.NATS(t)
	s, out, err := runLoadgen(t, t.Context(), srv.ClientURL(),
		"-only-null", "-requests", "20000", "-c", "64", "-conns", "3", "-null-subs", "2", "-progress", "0")
	if err != nil {
		t.Fatal(err)
	}
	if s.Real != nil || s.Verify != nil {
		t.Fatal("-only-null ran the real phase")
	}
	p := s.Null
	checkPhase(t, "null", p)
	if p.Sent != 20000 || p.Counts["granted"] != 20000 || p.Units != 20000 || p.Retries != 0 {
		t.Errorf("sent %d, granted %d, units %d, retries %d; want 20000 each and no retries",
			p.Sent, p.Counts["granted"], p.Units, p.Retries)
	}
	for _, want := range []string{"null responder:", "throughput", "p50", "p90", "p99 ", "p99.9", "max", "granted 20000", "timeout 0", "verify: skipped"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestOnlyNullOpenLoop(t *testing.T) {
	srv := testenv.NATS(t)
	s, _, err := runLoadgen(t, t.Context(), srv.ClientURL(),
		"-only-null", "-rate", "20000", "-requests", "10000", "-conns", "2", "-progress", "0", "-json")
	if err != nil {
		t.Fatal(err)
	}
	p := s.Null
	checkPhase(t, "null", p)
	if p.Sent+p.Unsent != 10000 {
		t.Errorf("sent %d + unsent %d, want 10000 scheduled", p.Sent, p.Unsent)
	}
	if p.Counts["granted"] == 0 || p.Retries != 0 {
		t.Errorf("granted %d, retries %d", p.Counts["granted"], p.Retries)
	}
	// 10000 requests at 20000/s take half a second, however fast replies come.
	if p.Seconds < 0.45 || p.Seconds > 5 {
		t.Errorf("phase took %.2fs, want about 0.5s", p.Seconds)
	}
	if s.Mode != "open" || s.Rate != 20000 {
		t.Errorf("mode %q rate %v", s.Mode, s.Rate)
	}
}

func TestOnlyNullDurationAndProgress(t *testing.T) {
	srv := testenv.NATS(t)
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	if err := m.ParseFlags([]string{"-nats", srv.ClientURL(), "-only-null", "-d", "700ms", "-c", "8", "-conns", "2", "-progress", "200ms", "-json"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := m.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 700*time.Millisecond || d > 10*time.Second {
		t.Errorf("run took %v for -d 700ms", d)
	}
	checkPhase(t, "null", m.Summary.Null)
	if n := strings.Count(errOut.String(), "req/s"); n < 2 {
		t.Errorf("%d progress lines, want at least 2:\n%s", n, errOut.String())
	}
	var js Summary
	if err := json.Unmarshal(out.Bytes(), &js); err != nil {
		t.Fatalf("-json output: %v\n%s", err, out.String())
	}
	if js.Null == nil || js.Null.Latency.P99 == 0 || js.Null.Counts["granted"] == 0 {
		t.Errorf("-json summary: %s", out.String())
	}
}

func TestAgainstFakeResponder(t *testing.T) {
	tests := []struct {
		name   string
		faults fakeFaults
		args   []string
		ok     bool
		check  func(t *testing.T, s *Summary)
	}{
		{
			name: "honest sell-out",
			args: []string{"-skus", "3", "-stock", "1500", "-requests", "6000", "-c", "32", "-conns", "2"},
			ok:   true,
			check: func(t *testing.T, s *Summary) {
				if s.Real.Units != 4500 || s.Real.Counts["sold_out"] != 1500 {
					t.Errorf("units %d, sold_out %d; want 4500 and 1500", s.Real.Units, s.Real.Counts["sold_out"])
				}
			},
		},
		{
			name: "honest insufficient, zipf, with null phase",
			args: []string{"-skus", "4", "-stock", "401", "-n", "2", "-requests", "1200", "-dist", "zipf", "-null"},
			ok:   true,
			check: func(t *testing.T, s *Summary) {
				if s.Real.Counts["insufficient"] == 0 || s.Real.Counts["sold_out"] != 0 {
					t.Errorf("insufficient %d, sold_out %d", s.Real.Counts["insufficient"], s.Real.Counts["sold_out"])
				}
				checkPhase(t, "null", s.Null)
				if s.Ratio == nil || s.Ratio.Throughput <= 0 || s.Null.Sent != 1200 {
					t.Errorf("ratio %+v, null sent %d", s.Ratio, s.Null.Sent)
				}
			},
		},
		{
			name: "honest open loop",
			args: []string{"-skus", "2", "-stock", "1000", "-rate", "4000", "-requests", "1500"},
			ok:   true,
			check: func(t *testing.T, s *Summary) {
				if s.Mode != "open" || s.Real.Units != 1500 || s.Real.Unsent != 0 {
					t.Errorf("mode %s, units %d, unsent %d", s.Mode, s.Real.Units, s.Real.Unsent)
				}
			},
		},
		{
			name:   "open loop over the outstanding cap",
			faults: fakeFaults{delayEvery: 1, delay: 50 * time.Millisecond},
			args:   []string{"-rate", "1000", "-requests", "200", "-max-outstanding", "4", "-conns", "2"},
			ok:     true,
			check: func(t *testing.T, s *Summary) {
				if s.Real.Sent+s.Real.Unsent != 200 || s.Real.Unsent < 100 {
					t.Errorf("sent %d, unsent %d: want most of 200 unsent", s.Real.Sent, s.Real.Unsent)
				}
				if s.Real.Latency.P50 < 50_000 {
					t.Errorf("p50 %dµs, below the responder's 50ms", s.Real.Latency.P50)
				}
			},
		},
		{
			name:   "replies lost: sold above seen",
			faults: fakeFaults{dropEvery: 50},
			args:   []string{"-stock", "100000", "-requests", "2000", "-c", "16", "-timeout", "300ms"},
			ok:     true,
			check: func(t *testing.T, s *Summary) {
				if s.Real.Counts["timeout"] != 40 || s.Verify.Lost != 40 {
					t.Errorf("timeouts %d, lost %d; want 40 each", s.Real.Counts["timeout"], s.Verify.Lost)
				}
			},
		},
		{
			name:   "late replies still count",
			faults: fakeFaults{delayEvery: 100, delay: 250 * time.Millisecond},
			args:   []string{"-stock", "100000", "-requests", "1000", "-c", "8", "-timeout", "100ms"},
			ok:     true,
			check: func(t *testing.T, s *Summary) {
				if s.Real.Counts["timeout"] != 10 {
					t.Errorf("timeouts %d, want 10", s.Real.Counts["timeout"])
				}
				// Replies late by more than the drain are lost, not wrong.
				if s.Real.Late+s.Verify.Lost != 10 || s.Real.LateUnits != s.Real.Late {
					t.Errorf("late %d (%d units), lost %d", s.Real.Late, s.Real.LateUnits, s.Verify.Lost)
				}
			},
		},
		{
			name:   "nobody serves acquire",
			faults: fakeFaults{noAcquire: true},
			args:   []string{"-rate", "2000", "-requests", "200"},
			ok:     true,
			check: func(t *testing.T, s *Summary) {
				if s.Real.Counts["no_responders"] != 200 || s.Real.Replies != 0 {
					t.Errorf("no_responders %d, replies %d", s.Real.Counts["no_responders"], s.Real.Replies)
				}
			},
		},
		{
			name:   "oversell",
			faults: fakeFaults{oversell: 5},
			args:   []string{"-stock", "500", "-requests", "1000", "-c", "16"},
			check: func(t *testing.T, s *Summary) {
				if !strings.Contains(strings.Join(s.Verify.Failures, ";"), "oversold: 505 units granted, only 500") {
					t.Errorf("failures %q", s.Verify.Failures)
				}
			},
		},
		{
			name:   "same unit granted twice",
			faults: fakeFaults{dupEvery: 7},
			args:   []string{"-stock", "100000", "-requests", "700", "-c", "16"},
			check: func(t *testing.T, s *Summary) {
				f := strings.Join(s.Verify.Failures, ";")
				if !strings.Contains(f, "100 units granted more than once") || !strings.Contains(f, "less than the 700 units") {
					t.Errorf("failures %q", s.Verify.Failures)
				}
			},
		},
		{
			name: "buyers: caps hold",
			args: []string{"-stock", "1000", "-per-buyer", "2", "-buyers", "10", "-requests", "100", "-c", "8", "-conns", "2"},
			ok:   true,
			check: func(t *testing.T, s *Summary) {
				if s.Real.Counts["granted"] != 20 || s.Real.Counts["buyer_limit"] != 80 {
					t.Errorf("granted %d, buyer_limit %d; want 20 (10 buyers of 2) and 80", s.Real.Counts["granted"], s.Real.Counts["buyer_limit"])
				}
				k := s.Verify.SKUs[0]
				if k.PerBuyer != 2 || k.Buyers != 10 || k.MostPerBuyer != 2 || k.BuyersOverCap != 0 || s.PerBuyer != 2 || s.Buyers != 10 {
					t.Errorf("verdict %+v, summary per_buyer %d buyers %d", k, s.PerBuyer, s.Buyers)
				}
			},
		},
		{
			name: "buyers: every buyer distinct",
			args: []string{"-stock", "100000", "-per-buyer", "1", "-buyers", "1000000", "-requests", "500", "-c", "16", "-conns", "3", "-null"},
			ok:   true,
			check: func(t *testing.T, s *Summary) {
				if s.Real.Counts["granted"] != 500 || s.Real.Counts["buyer_limit"] != 0 || s.Verify.SKUs[0].Buyers != 500 {
					t.Errorf("granted %d, buyer_limit %d, buyers %d; want 500 buyers of one grant each",
						s.Real.Counts["granted"], s.Real.Counts["buyer_limit"], s.Verify.SKUs[0].Buyers)
				}
				checkPhase(t, "null", s.Null)
			},
		},
		{
			name: "buyers: the warm-up's buyers are not met again",
			args: []string{"-stock", "10000000", "-per-buyer", "1", "-buyers", "1000000000", "-warmup", "200ms", "-d", "200ms", "-c", "8"},
			ok:   true,
			check: func(t *testing.T, s *Summary) {
				if s.Warmup.Counts["granted"] == 0 || s.Real.Counts["granted"] == 0 || s.Warmup.Counts["buyer_limit"]+s.Real.Counts["buyer_limit"] != 0 {
					t.Errorf("warm-up granted %d, measured %d, buyer_limit %d and %d: want grants only",
						s.Warmup.Counts["granted"], s.Real.Counts["granted"], s.Warmup.Counts["buyer_limit"], s.Real.Counts["buyer_limit"])
				}
				if k := s.Verify.SKUs[0]; k.Buyers != s.Warmup.Units+s.Real.Units || k.MostPerBuyer != 1 {
					t.Errorf("verdict %+v: want a buyer per grant", k)
				}
			},
		},
		{
			name:   "buyers: over the cap",
			faults: fakeFaults{overBuyer: 1},
			args:   []string{"-stock", "1000", "-per-buyer", "2", "-buyers", "10", "-requests", "100", "-c", "8"},
			check: func(t *testing.T, s *Summary) {
				if !strings.Contains(strings.Join(s.Verify.Failures, ";"), "10 buyers granted more than the per-buyer cap of 2 units") ||
					s.Verify.BuyersOverCap != 10 {
					t.Errorf("failures %q, over cap %d", s.Verify.Failures, s.Verify.BuyersOverCap)
				}
			},
		},
		{
			// Every grant's reply comes after its timeout, while the next
			// request is in flight: only the late replies show the buyer
			// over its cap.
			name:   "buyers: late grants count for their buyer",
			faults: fakeFaults{overBuyer: 10, delayEvery: 1, delay: 300 * time.Millisecond},
			args:   []string{"-stock", "1000", "-per-buyer", "1", "-buyers", "1", "-requests", "6", "-c", "1", "-conns", "1", "-timeout", "200ms"},
			check: func(t *testing.T, s *Summary) {
				if s.Real.Counts["granted"] != 0 || s.Real.Late < 2 {
					t.Fatalf("granted in time %d, late %d: want every grant late", s.Real.Counts["granted"], s.Real.Late)
				}
				if s.Verify.BuyersOverCap != 1 || s.Verify.SKUs[0].MostPerBuyer != s.Real.LateUnits {
					t.Errorf("verdict %+v, late units %d", s.Verify, s.Real.LateUnits)
				}
			},
		},
		{
			name: "batch: honest sell-out",
			args: []string{"-batch", "32", "-skus", "3", "-stock", "1500", "-requests", "200", "-c", "8", "-conns", "2"},
			ok:   true,
			check: func(t *testing.T, s *Summary) {
				p := s.Real
				if p.Units != 4500 || p.Counts["sold_out"] != 6400-4500 || p.Sent != 6400 || p.Messages != 200 || p.MessageReplies != 200 {
					t.Errorf("units %d, sold_out %d, sent %d, messages %d (%d replies); want 4500, 1900, 6400, 200",
						p.Units, p.Counts["sold_out"], p.Sent, p.Messages, p.MessageReplies)
				}
				if p.GrantThroughput <= 0 || p.MessageThroughput <= 0 || p.Throughput < 30*p.MessageThroughput {
					t.Errorf("throughput %v acquires/s, %v grants/s, %v msg/s", p.Throughput, p.GrantThroughput, p.MessageThroughput)
				}
			},
		},
		{
			name: "batch: insufficient, zipf, with null phase",
			args: []string{"-batch", "16", "-skus", "4", "-stock", "401", "-n", "2", "-requests", "300", "-dist", "zipf", "-null"},
			ok:   true,
			check: func(t *testing.T, s *Summary) {
				if s.Real.Counts["insufficient"] == 0 || s.Real.Units != 4*400 {
					t.Errorf("insufficient %d, units %d", s.Real.Counts["insufficient"], s.Real.Units)
				}
				checkPhase(t, "null", s.Null)
				if s.Ratio == nil || s.Null.Sent != 300*16 || s.Null.Units != 2*300*16 || s.Null.Messages != 300 {
					t.Errorf("ratio %+v, null sent %d, units %d, messages %d", s.Ratio, s.Null.Sent, s.Null.Units, s.Null.Messages)
				}
			},
		},
		{
			name: "batch: open loop",
			args: []string{"-batch", "8", "-skus", "2", "-stock", "10000", "-rate", "2000", "-requests", "300"},
			ok:   true,
			check: func(t *testing.T, s *Summary) {
				if s.Mode != "open" || s.Real.Units != 2400 || s.Real.Messages != 300 {
					t.Errorf("mode %s, units %d, messages %d", s.Mode, s.Real.Units, s.Real.Messages)
				}
			},
		},
		{
			name:   "batch: late replies still count",
			faults: fakeFaults{delayEvery: 10, delay: 250 * time.Millisecond},
			args:   []string{"-batch", "10", "-stock", "100000", "-requests", "100", "-c", "4", "-timeout", "100ms"},
			ok:     true,
			check: func(t *testing.T, s *Summary) {
				if s.Real.Counts["timeout"] != 100 {
					t.Errorf("timeouts %d, want the 100 acquires of 10 messages", s.Real.Counts["timeout"])
				}
				if s.Real.Late+s.Verify.Lost != 100 || s.Real.LateUnits != s.Real.Late {
					t.Errorf("late %d (%d units), lost %d", s.Real.Late, s.Real.LateUnits, s.Verify.Lost)
				}
			},
		},
		{
			name:   "batch: the whole message unavailable",
			faults: fakeFaults{wholeError: "unavailable"},
			args:   []string{"-batch", "8", "-requests", "50", "-c", "4"},
			ok:     true,
			check: func(t *testing.T, s *Summary) {
				if s.Real.Counts["unavailable"] != 400 || s.Real.Units != 0 {
					t.Errorf("unavailable %d, units %d", s.Real.Counts["unavailable"], s.Real.Units)
				}
			},
		},
		{
			name:   "batch: nobody serves acquire",
			faults: fakeFaults{noAcquire: true},
			args:   []string{"-batch", "4", "-rate", "2000", "-requests", "200"},
			ok:     true,
			check: func(t *testing.T, s *Summary) {
				if s.Real.Counts["no_responders"] != 800 || s.Real.Replies != 0 {
					t.Errorf("no_responders %d, replies %d", s.Real.Counts["no_responders"], s.Real.Replies)
				}
			},
		},
		{
			name:   "batch: oversell",
			faults: fakeFaults{oversell: 5},
			args:   []string{"-batch", "16", "-stock", "500", "-requests", "100", "-c", "4"},
			check: func(t *testing.T, s *Summary) {
				if !strings.Contains(strings.Join(s.Verify.Failures, ";"), "oversold: 505 units granted, only 500") {
					t.Errorf("failures %q", s.Verify.Failures)
				}
			},
		},
		{
			name:   "batch: same unit granted twice",
			faults: fakeFaults{dupEvery: 7},
			args:   []string{"-batch", "7", "-stock", "100000", "-requests", "100", "-c", "4"},
			check: func(t *testing.T, s *Summary) {
				f := strings.Join(s.Verify.Failures, ";")
				if !strings.Contains(f, "100 units granted more than once") || !strings.Contains(f, "less than the 700 units") {
					t.Errorf("failures %q", s.Verify.Failures)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testenv.NATS(t)
			startFake(t, srv.ClientURL(), tt.faults)
			args := append([]string{"-progress", "0", "-sku-prefix", "t"}, tt.args...)
			s, out, err := runLoadgen(t, t.Context(), srv.ClientURL(), args...)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(out, "VERIFY OK") {
					t.Error("report lacks VERIFY OK")
				}
			} else {
				if !errors.Is(err, errVerify) {
					t.Fatalf("Run = %v, want a verification failure", err)
				}
				if !strings.Contains(out, "VERIFY FAILED: ") {
					t.Error("report lacks VERIFY FAILED")
				}
			}
			checkPhase(t, "real", s.Real)
			if s.Verify == nil || s.Verify.OK != tt.ok {
				t.Fatalf("verdict %+v, want OK %v", s.Verify, tt.ok)
			}
			tt.check(t, s)
		})
	}
}

// TestFailover takes the responder away mid-run: closed-loop requests meet
// "no responders", are retried after the backoff, and succeed once it is
// back; nothing is lost and verification passes.
func TestFailover(t *testing.T) {
	for _, batch := range []int{0, 8} {
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) { testFailover(t, batch) })
	}
}

func testFailover(t *testing.T, batch int) {
	items := int64(max(batch, 1))
	srv := testenv.NATS(t)
	f := startFake(t, srv.ClientURL(), fakeFaults{})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	go func() {
		for f.grantCount() < 500 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		f.failover(150 * time.Millisecond)
	}()
	s, _, err := runLoadgen(t, ctx, srv.ClientURL(), "-batch", fmt.Sprint(batch),
		"-progress", "0", "-stock", "1000000", "-requests", fmt.Sprint(5000/items), "-c", "16", "-conns", "2", "-backoff", "10ms", "-timeout", "500ms")
	if err != nil {
		t.Fatal(err)
	}
	p := s.Real
	checkPhase(t, "real", p)
	if p.Counts["no_responders"] == 0 || p.Retries != p.Counts["no_responders"] {
		t.Errorf("no_responders %d, retries %d: want some, equal", p.Counts["no_responders"], p.Retries)
	}
	// Requests the server routed to the subscription just as it went away
	// get no reply at all, as from a crashed leader: they time out.
	if p.Counts["granted"]+p.Counts["timeout"] != 5000/items*items || p.Counts["timeout"] > 16*items || p.Sent != 5000/items*items+p.Retries {
		t.Errorf("granted %d, timeouts %d, sent %d: every request should end in a grant or (a few) in a timeout",
			p.Counts["granted"], p.Counts["timeout"], p.Sent)
	}
	// Latency counts from the first attempt, so the failover shows at the top.
	if p.Latency.Max < 100_000 {
		t.Errorf("max latency %dµs, want the 150ms failover in it", p.Latency.Max)
	}
	if !s.Verify.OK || s.Verify.Lost != 0 {
		t.Errorf("verdict %+v", s.Verify)
	}
}

func TestOnlyNullBatch(t *testing.T) {
	srv := testenv.NATS(t)
	s, out, err := runLoadgen(t, t.Context(), srv.ClientURL(),
		"-only-null", "-batch", "64", "-requests", "2000", "-c", "8", "-conns", "2", "-n", "3", "-progress", "0", "-json")
	if err != nil {
		t.Fatal(err)
	}
	p := s.Null
	checkPhase(t, "null", p)
	if p.Sent != 128000 || p.Counts["granted"] != 128000 || p.Units != 3*128000 || p.Messages != 2000 || p.MessageReplies != 2000 {
		t.Errorf("sent %d, granted %d, units %d, messages %d (%d replies)", p.Sent, p.Counts["granted"], p.Units, p.Messages, p.MessageReplies)
	}
	if p.Latency.Count != 128000 {
		t.Errorf("%d latencies, want one per acquire", p.Latency.Count)
	}
	var js map[string]any
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatal(err)
	}
	null, _ := js["null"].(map[string]any)
	for _, key := range []string{"grant_throughput", "messages", "message_replies", "message_throughput"} {
		if v, ok := null[key].(float64); !ok || v <= 0 {
			t.Errorf("-json: %s = %v", key, null[key])
		}
	}
	if js["batch"] != 64.0 {
		t.Errorf("-json: batch = %v", js["batch"])
	}
}

// TestExisting reads the limits of SKUs someone else created and sold from.
func TestExisting(t *testing.T) {
	srv := testenv.NATS(t)
	startFake(t, srv.ClientURL(), fakeFaults{})
	url := srv.ClientURL()
	if _, _, err := runLoadgen(t, t.Context(), url, "-progress", "0", "-skus", "2", "-stock", "300", "-requests", "200"); err != nil {
		t.Fatal(err)
	}
	s, _, err := runLoadgen(t, t.Context(), url, "-progress", "0", "-skus", "2", "-existing", "-requests", "1000")
	if err != nil {
		t.Fatal(err)
	}
	var units int64
	for _, k := range s.Verify.SKUs {
		if k.Limit != 300 {
			t.Errorf("%s: limit %d, want 300", k.SKU, k.Limit)
		}
		units += k.SoldBefore
	}
	if units != 200 || s.Real.Units != 400 {
		t.Errorf("sold before %d, granted %d; want 200 then the other 400", units, s.Real.Units)
	}
}

func TestUnknownSKUWithExisting(t *testing.T) {
	srv := testenv.NATS(t)
	startFake(t, srv.ClientURL(), fakeFaults{})
	_, _, err := runLoadgen(t, t.Context(), srv.ClientURL(), "-progress", "0", "-existing", "-sku-prefix", "nope", "-requests", "10")
	if err == nil || !strings.Contains(err.Error(), "unknown_sku") {
		t.Fatalf("Run = %v, want unknown_sku", err)
	}
}

// TestInterrupt cancels a long run: it stops early, drains, and still reports
// and verifies.
func TestInterrupt(t *testing.T) {
	srv := testenv.NATS(t)
	startFake(t, srv.ClientURL(), fakeFaults{})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	s, _, err := runLoadgen(t, ctx, srv.ClientURL(), "-progress", "0", "-d", "1m", "-c", "8")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("interrupted run took %v", d)
	}
	if !s.Interrupted || s.Verify == nil || !s.Verify.OK {
		t.Fatalf("summary after interrupt: interrupted %v, verify %+v", s.Interrupted, s.Verify)
	}
	checkPhase(t, "real", s.Real)
}

// TestNoGoroutineLeft checks that Run stops what it started: workers,
// sweepers, the null responder and the connections.
func TestNoGoroutineLeft(t *testing.T) {
	srv := testenv.NATS(t)
	before := runtime.NumGoroutine()
	if _, _, err := runLoadgen(t, t.Context(), srv.ClientURL(), "-only-null", "-progress", "50ms", "-requests", "3000", "-c", "16"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := runtime.NumGoroutine(); n > before {
			return fmt.Errorf("%d goroutines after Run, %d before", n, before)
		}
		return nil
	})
}
