package loadgen

import (
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Counts are the counters of one phase (or one worker of it).
//
// Every attempt sent ends in exactly one Kind once the phase has drained, so
// Sent == Outcomes(). Late replies arrive after their attempt was counted as
// a timeout; their grants still go to the ledger, and to LateUnits.
//
// With -batch every count is of acquires (the items of the batches), not of
// messages, so that Sent == Outcomes() still holds; only Messages and
// MessageReplies count messages.
type Counts struct {
	Kinds          [numKinds]int64
	Messages       int64 // messages published, including retries
	MessageReplies int64 // replies that came in time
	Sent           int64 // attempts published, including retries
	Units          int64 // units granted in replies that came in time
	Late           int64 // replies that came after their attempt timed out
	LateUnits      int64 // units granted in late replies
	Unsent         int64 // open loop: scheduled requests skipped at -max-outstanding
	Retries        int64 // closed loop: attempts re-sent after no responders or a send error
	Abandoned      int64 // closed loop: requests given up after meeting no responders for -timeout
	Partial        int64 // grants of another number of units than requested
}

func (c *Counts) add(o *Counts) {
	for k := range c.Kinds {
		c.Kinds[k] += o.Kinds[k]
	}
	c.Messages += o.Messages
	c.MessageReplies += o.MessageReplies
	c.Sent += o.Sent
	c.Units += o.Units
	c.Late += o.Late
	c.LateUnits += o.LateUnits
	c.Unsent += o.Unsent
	c.Retries += o.Retries
	c.Abandoned += o.Abandoned
	c.Partial += o.Partial
}

// Replies is the number of answers from a responder, of any kind.
func (c *Counts) Replies() int64 {
	var n int64
	for k := range c.Kinds {
		if Kind(k).isReply() {
			n += c.Kinds[k]
		}
	}
	return n
}

// Errors is the number of attempts that did not end in a grant.
func (c *Counts) Errors() int64 { return c.Outcomes() - c.Kinds[KindGranted] }

// Outcomes is the number of attempts that have ended, in any way.
func (c *Counts) Outcomes() int64 {
	var n int64
	for _, v := range c.Kinds {
		n += v
	}
	return n
}

// Latencies are recorded in microseconds, from 1 µs to an hour, with three
// significant digits.
const histMaxMicros = int64(time.Hour / time.Microsecond)

func newHist() *hdr.Histogram { return hdr.New(1, histMaxMicros, 3) }

// recordLatency records d count times: once per acquire of a reply.
func recordLatency(h *hdr.Histogram, d time.Duration, count int64) {
	us := d.Microseconds()
	if us < 1 {
		us = 1
	}
	if us > histMaxMicros {
		us = histMaxMicros
	}
	_ = h.RecordValues(us, count) // in range by construction
}
