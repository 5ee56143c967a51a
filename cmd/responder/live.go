package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stockstate/stock/responder"
	"github.com/stockstate/stock/responder/liveness"
	"github.com/stockstate/stock/wire"
)

// The live view: a page at / of -http for people without Grafana, and the
// JSON it polls each second. The leader answers from its windows; a
// standby lists SKUs from etcd and asks the leader for each over NATS, so
// every responder's page shows the same sale.

//go:embed live.html
var livePage []byte

// liveSKUs bounds the SKUs one view lists.
const liveSKUs = 200

// liveView is the body of /live.json.
type liveView struct {
	Node    string               `json:"node"`
	Leading bool                 `json:"leading"`
	Leader  string               `json:"leader"`
	At      time.Time            `json:"at"`
	SKUs    []responder.SKUState `json:"skus"`
	Total   int                  `json:"total"` // SKUs there are (-1: more than liveSKUs); SKUs lists at most liveSKUs
	Error   string               `json:"error,omitempty"`
}

func (m *Main) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(livePage)
}

func (m *Main) serveLive(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	v := m.live(ctx)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// live reads the view: from this node's term if it leads the only
// partition, else through the leaders (of every partition).
func (m *Main) live(ctx context.Context) liveView {
	v := liveView{Node: m.Options.ID, At: time.Now().UTC(), SKUs: []responder.SKUState{}}
	resp, parts := m.resp.Load(), m.parts.Load()
	if resp == nil || parts == nil {
		v.Error = "starting"
		return v
	}
	v.Leading = resp.Leading()
	if v.Leading && len(*parts) == 1 {
		v.Leader = m.Options.ID
		v.SKUs, _ = resp.Snapshot(liveSKUs) // the SKUs this term has served or read
		n, err := (*parts)[0].store.CountSKUs(ctx)
		if err != nil {
			v.Error = err.Error()
		}
		v.Total = int(n)
		return v
	}
	var leaders []string
	for _, p := range *parts {
		leader, err := p.elector.Leader(ctx)
		if err != nil {
			v.Error = err.Error()
			return v
		}
		if id := liveness.IDOf(leader); leader != "" && !slices.Contains(leaders, id) {
			leaders = append(leaders, id)
		}
	}
	slices.Sort(leaders)
	v.Leader = strings.Join(leaders, ", ")
	var names []string
	for _, p := range *parts {
		part, more, err := p.store.SKUNames(ctx, liveSKUs-len(names))
		if err != nil {
			v.Error = err.Error()
			return v
		}
		names = append(names, part...)
		if more || len(names) >= liveSKUs {
			v.Total = -1 // more than listed; unknown how many
			break
		}
	}
	if v.Total == 0 {
		v.Total = len(names)
	}
	v.SKUs = m.queryAll(ctx, names, len(*parts))
	return v
}

// queryAll asks the leader for each SKU, 16 at a time; a SKU that does not
// answer is left out.
func (m *Main) queryAll(ctx context.Context, names []string, partitions int) []responder.SKUState {
	out := make([]*responder.SKUState, len(names))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, sku := range names {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			msg, err := m.nc.RequestWithContext(ctx, wire.SKUSubject(m.Options.Prefix, wire.SubjectQuery, sku, partitions), nil)
			var r wire.Reply
			if err != nil || json.Unmarshal(msg.Data, &r) != nil || r.Error != "" {
				return
			}
			out[i] = &responder.SKUState{SKU: sku, Limit: r.Limit, Sold: r.Sold, Held: r.Held, Remaining: r.Remaining}
		})
	}
	wg.Wait()
	skus := make([]responder.SKUState, 0, len(out))
	for _, s := range out {
		if s != nil {
			skus = append(skus, *s)
		}
	}
	return skus
}
