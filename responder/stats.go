package responder

import (
	"sync/atomic"
	"time"

	"github.com/stockstate/stock/wire"
)

// EndpointStats counts one endpoint's requests since the server started.
type EndpointStats struct {
	Name           string
	Requests       uint64
	Errors         uint64        // answered with an error of any code
	ProcessingTime time.Duration // estimated from one request in 8
}

// Stats are the server's counters since it started. Reading them is cheap
// and safe at any time.
type Stats struct {
	Endpoints [numEndpoints]EndpointStats
	// Errors counts error replies by kind (wire.ErrSoldOut, ...).
	Errors map[string]uint64

	Units        uint64 // units granted
	Stalls       uint64 // acquires that had to wait for a raised cap
	WaitTimeouts uint64 // waits that ended unavailable after MaxWait
	Refills      uint64 // store writes that raised caps
	RefillKeys   uint64 // SKU records those writes carried
	RefillTime   time.Duration
	Fenced       uint64 // writes the fence refused (leadership lost)
	Unknown      uint64 // writes whose outcome was unknown
	Terms        uint64 // leadership terms served
	Revoked      uint64 // leases of dead candidates (leaders or standbys) this node revoked
	Leading      bool   // serving a term of any partition
	Partitions   int    // of the cluster
	LeadingParts []int  // the partitions whose terms this node serves
	HoldsExpired uint64 // holds whose units came back by expiry
	SKUs         int    // SKUs the terms served now have read or created (0 when standing by)
	WindowUnits  int64  // sum of the windows of those SKUs
	HeldUnits    int64  // units in live holds of those SKUs
}

// counters are updated with atomic adds on the request path.
type counters struct {
	requests [numEndpoints]atomic.Uint64
	errors   [numEndpoints]atomic.Uint64
	procNS   [numEndpoints]atomic.Int64
	kinds    [wire.NumKinds]atomic.Uint64

	units, stalls, waitTimeouts     atomic.Uint64
	refills, refillKeys             atomic.Uint64
	refillNS                        atomic.Int64
	fenced, unknown, terms, revoked atomic.Uint64
	holdsExpired                    atomic.Uint64
}

// sampleEvery: one request in this many is timed, and its time counted this
// many times, which keeps clock reads off most of the hot path.
const sampleEvery = 8

// begin numbers a request of endpoint ep answered at reply, and times one
// in sampleEvery.
func (c *counters) begin(reply string, ep int) request {
	rq := request{reply: reply, ep: ep}
	if c.requests[ep].Add(1)%sampleEvery == 0 {
		rq.start = time.Now()
	}
	return rq
}

// done records the answer to rq.
func (c *counters) done(rq request, a answer) {
	if !rq.start.IsZero() {
		c.procNS[rq.ep].Add(sampleEvery * int64(time.Since(rq.start)))
	}
	if !a.ok() {
		c.errors[rq.ep].Add(1)
		c.kinds[a.kind].Add(1)
	}
}

// serving returns the terms that serve now, one per partition led.
func (s *Server) serving() []*term {
	var ts []*term
	for _, p := range s.parts {
		if t := p.term.Load(); t != nil && p.leading.Load() {
			ts = append(ts, t)
		}
	}
	return ts
}

// Stats returns the counters, and what the terms served now hold.
func (s *Server) Stats() Stats {
	c := &s.counters
	st := Stats{
		Errors:       make(map[string]uint64, wire.NumKinds),
		Units:        c.units.Load(),
		Stalls:       c.stalls.Load(),
		WaitTimeouts: c.waitTimeouts.Load(),
		Refills:      c.refills.Load(),
		RefillKeys:   c.refillKeys.Load(),
		RefillTime:   time.Duration(c.refillNS.Load()),
		Fenced:       c.fenced.Load(),
		Unknown:      c.unknown.Load(),
		Terms:        c.terms.Load(),
		Revoked:      c.revoked.Load(),
		HoldsExpired: c.holdsExpired.Load(),
		Partitions:   len(s.parts),
		LeadingParts: s.LeadingPartitions(),
	}
	st.Leading = len(st.LeadingParts) > 0
	for i := range st.Endpoints {
		st.Endpoints[i] = EndpointStats{
			Name:           endpoints[i].name,
			Requests:       c.requests[i].Load(),
			Errors:         c.errors[i].Load(),
			ProcessingTime: time.Duration(c.procNS[i].Load()),
		}
	}
	for i, k := range wire.Kinds {
		st.Errors[k] = c.kinds[i].Load()
	}
	for _, t := range s.serving() {
		for _, e := range t.cat.all() {
			e.mu.Lock()
			st.WindowUnits += e.item.Window()
			st.HeldUnits += e.item.Held
			e.mu.Unlock()
			st.SKUs++
		}
	}
	return st
}
