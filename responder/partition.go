package responder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/stockstate/stock/responder/liveness"
	"github.com/stockstate/stock/wire"
)

// Partition is what one partition of the SKUs needs: the store of its keys,
// the campaign of its election, and, if standbys should probe its leader's
// process and revoke a dead one's lease, its election queue.
type Partition struct {
	Store    Store
	Campaign Campaign
	Queue    liveness.Queue // nil: no probing
}

// errYielded ends a term that handed its partition over gracefully, to
// even out leadership among the responders.
var errYielded = errors.New("responder: partition handed over to even out leadership")

// partition is one partition's campaign loop and the term it serves. Every
// responder runs one per partition; at most one of them, the partition's
// elected leader, serves its SKUs.
type partition struct {
	s        *Server
	index    int
	log      *slog.Logger // the Server's, with the partition when there are several
	store    Store
	campaign Campaign
	queue    liveness.Queue

	prefixes [numEndpoints]string // per endpoint, what precedes the SKU token
	suffix   string               // what follows the SKU token: "" or "." + index
	batches  [numEndpoints]string // per batch endpoint, its subject

	term    atomic.Pointer[term] // the term being served, or nil
	leading atomic.Bool
	since   atomic.Int64 // when the term being served started serving, in unix nanoseconds

	yield   chan struct{} // asks the term being served to hand over gracefully
	requeue chan struct{} // asks a campaign that waits to go to the back of the queue
}

func newPartition(s *Server, index int, p Partition) *partition {
	n := len(s.parts)
	pt := &partition{
		s: s, index: index, store: p.Store, campaign: p.Campaign, queue: p.Queue,
		yield: make(chan struct{}, 1), requeue: make(chan struct{}, 1),
	}
	pt.log = s.log
	if n > 1 {
		pt.suffix = "." + strconv.Itoa(index)
		pt.log = s.log.With("partition", index)
	}
	for i, ep := range endpoints {
		switch {
		case ep.batch == nil:
			pt.prefixes[i] = s.cfg.Prefix + "." + ep.subject + "."
		case n > 1:
			pt.batches[i] = wire.PartitionBatchSubject(s.cfg.Prefix, ep.subject, index)
		default:
			pt.batches[i] = s.cfg.Prefix + "." + ep.subject
		}
	}
	return pt
}

// subject is the subscription subject of endpoint i.
func (p *partition) subject(i int) string {
	if endpoints[i].batch != nil {
		return p.batches[i]
	}
	if p.suffix == "" {
		return p.prefixes[i] + ">"
	}
	return p.prefixes[i] + "*" + p.suffix
}

// sku returns the SKU token of subject, a subject of endpoint i that the
// subscription of subject(i) delivered.
func (p *partition) sku(i int, subject string) string {
	return subject[len(p.prefixes[i]) : len(subject)-len(p.suffix)]
}

// owns reports whether sku belongs to partition p.
func owns[S string | []byte](p *partition, sku S) bool {
	return p.suffix == "" || wire.Partition(sku, len(p.s.parts)) == p.index
}

// notOwned is the reason given for a request of sku sent to partition p,
// to which it does not belong.
func (p *partition) notOwned(sku string) string {
	n := len(p.s.parts)
	return fmt.Sprintf("sku %s belongs to partition %d of %d, not %d: send to %s", sku, wire.Partition(sku, n), n, p.index,
		wire.SKUSubject(p.s.cfg.Prefix, "<verb>", sku, n))
}

// publicSubject is the subject of endpoint i as discovery lists it: with
// partitions, wildcards stand for the SKU and the partition.
func publicSubject(prefix string, i, n int) string {
	ep := endpoints[i]
	switch {
	case n > 1 && ep.batch != nil:
		return prefix + ".partition.*." + ep.subject
	case n > 1:
		return prefix + "." + ep.subject + ".*.*"
	case ep.batch != nil:
		return prefix + "." + ep.subject
	}
	return prefix + "." + ep.subject + ".>"
}

// run campaigns and serves terms until ctx ends, stopping the last one
// gracefully. A failed campaign is retried with backoff; a requeue abandons
// the campaign that waits (its key goes) and campaigns again at once.
func (p *partition) run(ctx context.Context) {
	log := p.log
	backoff := 50 * time.Millisecond
	for {
		lead, err := p.campaignOnce(ctx)
		if ctx.Err() != nil {
			if lead != nil {
				lead.End()
			}
			return
		}
		if errors.Is(err, errRequeued) {
			continue
		}
		if err != nil {
			log.Warn("campaign failed", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		log.Info("leading", "id", p.s.cfg.ID, "key", lead.Key(), "rev", lead.Rev())
		select { // a yield asked of an earlier term is not this one's
		case <-p.yield:
		default:
		}
		t := newTerm(p, lead)
		p.term.Store(t)
		err = t.run(ctx)
		p.term.Store(nil)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errYielded) {
			log.Info("handed over")
			continue
		}
		log.Warn("leadership lost", "err", err)
	}
}

// errRequeued ends a campaign abandoned to go to the back of the queue.
var errRequeued = errors.New("responder: campaign requeued")

// campaignOnce campaigns until this node leads, ctx ends, or a requeue is
// asked (then errRequeued).
func (p *partition) campaignOnce(ctx context.Context) (Leadership, error) {
	select { // a requeue asked during the last term is stale
	case <-p.requeue:
	default:
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	requeued := make(chan struct{})
	go func() {
		select {
		case <-p.requeue:
			close(requeued)
			cancel()
		case <-cctx.Done():
		}
	}()
	lead, err := p.campaign(cctx)
	select {
	case <-requeued:
		if err == nil {
			return lead, nil // won before the requeue took effect: serve
		}
		return nil, errRequeued
	default:
	}
	return lead, err
}

// setLeading records that this partition's term started or stopped
// serving.
func (p *partition) setLeading(on bool) {
	if p.leading.Swap(on) == on {
		return
	}
	if on {
		p.since.Store(time.Now().UnixNano())
		p.s.leadingParts.Add(1)
	} else {
		p.s.leadingParts.Add(-1)
	}
	p.s.cfg.Observer.Leading(on)
}
