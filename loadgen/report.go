package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Summary is the final report; -json prints it as is.
type Summary struct {
	Mode        string        `json:"mode"` // "closed" or "open"
	Op          string        `json:"op"`   // OpAcquire, OpHold or OpConfirm
	C           int           `json:"c,omitempty"`
	Rate        float64       `json:"rate,omitempty"`
	Conns       int           `json:"conns"`
	N           int64         `json:"n"`
	Batch       int           `json:"batch,omitempty"` // acquires per message; 0: single requests
	SKUs        int           `json:"skus"`
	Partitions  int           `json:"partitions,omitempty"` // the real responder's, when more than 1
	Dist        string        `json:"dist"`
	TimeoutMS   int64         `json:"timeout_ms"`
	PerBuyer    int64         `json:"per_buyer,omitempty"` // -per-buyer
	Buyers      int64         `json:"buyers,omitempty"`    // -buyers
	Null        *PhaseSummary `json:"null,omitempty"`
	Warmup      *PhaseSummary `json:"warmup,omitempty"` // the real responder's warm-up (-warmup), not in Real
	Real        *PhaseSummary `json:"real,omitempty"`
	Ratio       *Ratio        `json:"ratio,omitempty"`
	Verify      *Verdict      `json:"verify,omitempty"`
	VerifyNote  string        `json:"verify_note,omitempty"`
	Interrupted bool          `json:"interrupted,omitempty"`
}

// PhaseSummary is one phase in the report. With -batch, Sent, Replies,
// Counts, the latencies and the other counts are of acquires (items), and
// Messages, MessageReplies and MessageThroughput of batch messages.
type PhaseSummary struct {
	Seconds           float64          `json:"seconds"`
	Sent              int64            `json:"sent"`
	Replies           int64            `json:"replies"`
	Throughput        float64          `json:"throughput"`       // replies (acquires answered) per second
	GrantThroughput   float64          `json:"grant_throughput"` // granted acquires per second
	Messages          int64            `json:"messages,omitempty"`
	MessageReplies    int64            `json:"message_replies,omitempty"`
	MessageThroughput float64          `json:"message_throughput,omitempty"` // replies per second, in messages
	Latency           Latency          `json:"latency_us"`
	Counts            map[string]int64 `json:"counts"` // per Kind; they add up to Sent
	Units             int64            `json:"granted_units"`
	Late              int64            `json:"late"`
	LateUnits         int64            `json:"late_granted_units"`
	Unsent            int64            `json:"unsent"`
	Retries           int64            `json:"retries"`
	Abandoned         int64            `json:"abandoned"`
	Partial           int64            `json:"partial_grants"`
	SendError         string           `json:"send_error,omitempty"`
}

// Latency percentiles in microseconds, of the replies that came in time;
// with -batch, of the acquires in them, each at its message's latency.
type Latency struct {
	Count int64   `json:"count"`
	P50   int64   `json:"p50"`
	P90   int64   `json:"p90"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p99_9"`
	Max   int64   `json:"max"`
	Mean  float64 `json:"mean"`
}

// Ratio compares the real responder with the null one: real/null.
type Ratio struct {
	Throughput float64 `json:"throughput"`
	P99        float64 `json:"p99"`
}

func summarizePhase(r *PhaseResult, batch int) *PhaseSummary {
	s := &PhaseSummary{
		Seconds:         r.Elapsed.Seconds(),
		Sent:            r.Counts.Sent,
		Replies:         r.Counts.Replies(),
		Throughput:      r.Throughput(),
		GrantThroughput: r.perSecond(r.Counts.Kinds[KindGranted]),
		Counts:          make(map[string]int64, numKinds),
		Units:           r.Counts.Units,
		Late:            r.Counts.Late,
		LateUnits:       r.Counts.LateUnits,
		Unsent:          r.Counts.Unsent,
		Retries:         r.Counts.Retries,
		Abandoned:       r.Counts.Abandoned,
		Partial:         r.Counts.Partial,
		Latency: Latency{
			Count: r.Hist.TotalCount(),
			P50:   r.Hist.ValueAtQuantile(50),
			P90:   r.Hist.ValueAtQuantile(90),
			P99:   r.Hist.ValueAtQuantile(99),
			P999:  r.Hist.ValueAtQuantile(99.9),
			Max:   r.Hist.Max(),
			Mean:  r.Hist.Mean(),
		},
	}
	for k := range numKinds {
		s.Counts[k.String()] = r.Counts.Kinds[k]
	}
	if batch > 0 {
		s.Messages = r.Counts.Messages
		s.MessageReplies = r.Counts.MessageReplies
		s.MessageThroughput = r.perSecond(r.Counts.MessageReplies)
	}
	if r.SendErr != nil {
		s.SendError = r.SendErr.Error()
	}
	return s
}

func ratioOf(real, null *PhaseSummary) *Ratio {
	if real == nil || null == nil || null.Throughput == 0 {
		return nil
	}
	r := &Ratio{Throughput: real.Throughput / null.Throughput}
	if null.Latency.P99 > 0 {
		r.P99 = float64(real.Latency.P99) / float64(null.Latency.P99)
	}
	return r
}

// WriteJSON writes s as indented JSON.
func (s *Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteText writes s for people.
func (s *Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	load := fmt.Sprintf("closed loop, c=%d", s.C)
	if s.Mode == "open" {
		load = fmt.Sprintf("open loop, %g req/s", s.Rate)
	}
	if s.Batch > 0 {
		load += fmt.Sprintf(" messages of %d acquires", s.Batch)
	}
	if s.Op != "" && s.Op != OpAcquire {
		load += ", op " + s.Op
	}
	if s.Buyers > 0 {
		load += fmt.Sprintf(", %d buyers", s.Buyers)
	}
	if s.PerBuyer > 0 {
		load += fmt.Sprintf(" capped at %d units each", s.PerBuyer)
	}
	parts := ""
	if s.Partitions > 1 {
		parts = fmt.Sprintf(" over %d partitions", s.Partitions)
	}
	fmt.Fprintf(&b, "load: %s over %d connections, %d SKUs%s (%s), n=%d, timeout %dms\n",
		load, s.Conns, s.SKUs, parts, s.Dist, s.N, s.TimeoutMS)
	if s.Interrupted {
		b.WriteString("interrupted: the numbers cover the run up to the interruption\n")
	}
	if s.Null != nil {
		writePhase(&b, "null responder", s.Null)
	}
	if s.Warmup != nil && s.Op == OpConfirm {
		writePhase(&b, "responder, holds to confirm (left out of the numbers below)", s.Warmup)
	} else if s.Warmup != nil {
		writePhase(&b, "responder, warm-up (left out of the numbers below)", s.Warmup)
	}
	if s.Real != nil {
		writePhase(&b, "responder", s.Real)
	}
	if s.Ratio != nil {
		fmt.Fprintf(&b, "real/null: throughput %.3f, p99 %.2f\n", s.Ratio.Throughput, s.Ratio.P99)
	}
	if s.VerifyNote != "" {
		fmt.Fprintf(&b, "verify: %s\n", s.VerifyNote)
	}
	if v := s.Verify; v != nil {
		b.WriteString("verify:\n")
		for _, k := range v.SKUs {
			fmt.Fprintf(&b, "  %s: limit %d, sold %d -> %d, seen %d units in %d grants, lost to failovers %d",
				k.SKU, k.Limit, k.SoldBefore, k.SoldAfter, k.Units, k.Grants, k.Lost)
			if k.UnitsChecked {
				fmt.Fprintf(&b, ", units named twice %d, out of range %d", k.Overlaps, k.OutOfRange)
			}
			if k.Buyers > 0 {
				fmt.Fprintf(&b, ", %d buyers (at most %d units each", k.Buyers, k.MostPerBuyer)
				if k.PerBuyer > 0 {
					fmt.Fprintf(&b, "; per_buyer %d, buyers over it %d", k.PerBuyer, k.BuyersOverCap)
				}
				b.WriteByte(')')
			}
			if k.Note != "" {
				fmt.Fprintf(&b, " (%s)", k.Note)
			}
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "  lost to failovers in total: %d units\n", v.Lost)
		if s.Buyers > 0 {
			fmt.Fprintf(&b, "  buyers over their cap: %d\n", v.BuyersOverCap)
		}
		b.WriteString(v.line() + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writePhase(b *strings.Builder, title string, p *PhaseSummary) {
	fmt.Fprintf(b, "%s:\n", title)
	if p.Messages > 0 {
		fmt.Fprintf(b, "  throughput  %.0f acquires/s, %.0f grants/s, in %.0f msg/s (%d acquires answered in %.2fs, %d sent; %d of %d messages answered)\n",
			p.Throughput, p.GrantThroughput, p.MessageThroughput, p.Replies, p.Seconds, p.Sent, p.MessageReplies, p.Messages)
	} else {
		fmt.Fprintf(b, "  throughput  %.0f req/s, %.0f grants/s (%d replies in %.2fs, %d sent)\n", p.Throughput, p.GrantThroughput, p.Replies, p.Seconds, p.Sent)
	}
	l := p.Latency
	unit := "replies"
	if p.Messages > 0 {
		unit = "acquires"
	}
	fmt.Fprintf(b, "  latency     p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%d %s)\n",
		fmtMicros(l.P50), fmtMicros(l.P90), fmtMicros(l.P99), fmtMicros(l.P999), fmtMicros(l.Max), l.Count, unit)
	b.WriteString("  replies    ")
	for k := range numKinds {
		fmt.Fprintf(b, " %s %d", k, p.Counts[k.String()])
		if k == KindInvalid {
			b.WriteString("\n  no reply   ")
		}
	}
	fmt.Fprintf(b, "\n  grants      %d units", p.Units)
	if p.Late > 0 || p.LateUnits > 0 {
		fmt.Fprintf(b, " (and %d units in %d late replies)", p.LateUnits, p.Late)
	}
	if p.Unsent > 0 {
		fmt.Fprintf(b, ", unsent %d", p.Unsent)
	}
	if p.Retries > 0 {
		fmt.Fprintf(b, ", retries %d", p.Retries)
	}
	if p.Abandoned > 0 {
		fmt.Fprintf(b, ", abandoned after no responders %d", p.Abandoned)
	}
	if p.Partial > 0 {
		fmt.Fprintf(b, ", partial grants %d", p.Partial)
	}
	b.WriteByte('\n')
	if p.SendError != "" {
		fmt.Fprintf(b, "  first send error: %s\n", p.SendError)
	}
}

// line is the verdict in one line: VERIFY OK, or VERIFY FAILED and why.
func (v *Verdict) line() string {
	if v.OK {
		return "VERIFY OK"
	}
	return "VERIFY FAILED: " + strings.Join(v.Failures, "; ")
}
