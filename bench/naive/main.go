// Command naive is the baseline that BENCHMARKS.md compares against: a
// responder in which every acquire is its own etcd transaction (read the
// SKU's sold count, then compare-and-swap it), with no window and no
// leader; every hold is one transaction too (the SKU's count and the hold's
// own key), and every confirm one more (the hold's key). It speaks enough
// of the protocol for loadgen: acquire, hold, confirm, query and admin.set,
// on the same subjects and with the same reply shapes.
//
//	naive -nats nats://127.0.0.1:4222 -etcd 127.0.0.1:2379
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/wire"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

type state struct {
	Limit int64 `json:"limit"`
	Sold  int64 `json:"sold"`
}

// holdState is a hold's key.
type holdState struct {
	N         int64  `json:"n"`
	ExpiresMS int64  `json:"expires_ms"`
	State     string `json:"state"`
}

func main() {
	natsURL := flag.String("nats", nats.DefaultURL, "NATS URL")
	etcd := flag.String("etcd", "127.0.0.1:2379", "etcd endpoints, comma-separated")
	prefix := flag.String("prefix", "stock", "subject prefix")
	workers := flag.Int("workers", 1, "requests served at once; on one SKU more workers only conflict and retry (8 workers: 425 req/s, 1 worker: 539 req/s here)")
	flag.Parse()

	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(*etcd, ","), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	nc, err := nats.Connect(*natsURL)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()

	jobs := make(chan *nats.Msg, 4096)
	for range *workers {
		go func() {
			for m := range jobs {
				serve(cli, *prefix, m)
			}
		}()
	}
	if _, err := nc.QueueSubscribe(*prefix+".>", "naive", func(m *nats.Msg) { jobs <- m }); err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
}

func serve(cli *clientv3.Client, prefix string, m *nats.Msg) {
	rest := strings.TrimPrefix(m.Subject, prefix+".")
	i := strings.LastIndexByte(rest, '.')
	if i < 0 || m.Reply == "" {
		return
	}
	kind, sku := rest[:i], rest[i+1:]
	key := "/naive/" + sku
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	switch kind {
	case wire.SubjectSet:
		var req wire.SetRequest
		if json.Unmarshal(m.Data, &req) != nil {
			reply(m, 400, wire.Reply{SKU: sku, Error: wire.ErrBadRequest})
			return
		}
		st := state{Limit: req.Limit}
		b, _ := json.Marshal(st)
		if _, err := cli.Put(ctx, key, string(b)); err != nil {
			reply(m, 503, wire.Reply{SKU: sku, Error: wire.ErrUnavailable})
			return
		}
		queryReply(m, sku, st)
	case wire.SubjectQuery:
		st, _, err := load(ctx, cli, key)
		if err != nil {
			reply(m, 404, wire.Reply{SKU: sku, Error: wire.ErrUnknownSKU})
			return
		}
		queryReply(m, sku, st)
	case wire.SubjectHold:
		hold(ctx, cli, m, sku, key)
	case wire.SubjectConfirm:
		confirm(ctx, cli, m, sku)
	case wire.SubjectAcquire:
		n := int64(1)
		var req wire.Request
		if len(m.Data) > 0 && json.Unmarshal(m.Data, &req) == nil && req.N > 0 {
			n = req.N
		}
		for {
			st, rev, err := load(ctx, cli, key)
			if err != nil {
				reply(m, 404, wire.Reply{SKU: sku, Error: wire.ErrUnknownSKU})
				return
			}
			if st.Limit-st.Sold < n {
				reply(m, 409, wire.Reply{SKU: sku, Remaining: st.Limit - st.Sold, Error: wire.ErrSoldOut})
				return
			}
			st.Sold += n
			b, _ := json.Marshal(st)
			resp, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
				Then(clientv3.OpPut(key, string(b))).Commit()
			if err != nil {
				reply(m, 503, wire.Reply{SKU: sku, Error: wire.ErrUnavailable})
				return
			}
			if resp.Succeeded {
				data := []byte(fmt.Sprintf(`{"sku":%q,"granted":%d,"remaining":%d}`, sku, n, st.Limit-st.Sold))
				_ = m.Respond(data)
				return
			}
		}
	}
}

// hold takes the units and writes the hold in one transaction, retried
// while another changes the SKU's count; a hold whose key exists already is
// not taken again.
func hold(ctx context.Context, cli *clientv3.Client, m *nats.Msg, sku, key string) {
	var req wire.HoldRequest
	if json.Unmarshal(m.Data, &req) != nil || req.ID == "" {
		reply(m, 400, wire.Reply{SKU: sku, Error: wire.ErrBadRequest})
		return
	}
	n, ttl := max(req.N, 1), cmp.Or(req.TTLs, 900)
	hkey := "/naive/hold/" + sku + "/" + req.ID
	for {
		st, rev, err := load(ctx, cli, key)
		if err != nil {
			reply(m, 404, wire.Reply{SKU: sku, Error: wire.ErrUnknownSKU})
			return
		}
		if st.Limit-st.Sold < n {
			reply(m, 409, wire.Reply{SKU: sku, Remaining: st.Limit - st.Sold, Error: wire.ErrSoldOut})
			return
		}
		st.Sold += n
		expires := time.Now().Add(time.Duration(ttl) * time.Second).Truncate(time.Second)
		b, _ := json.Marshal(st)
		h, _ := json.Marshal(holdState{N: n, ExpiresMS: expires.UnixMilli(), State: "live"})
		resp, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev),
			clientv3.Compare(clientv3.CreateRevision(hkey), "=", 0)).
			Then(clientv3.OpPut(key, string(b)), clientv3.OpPut(hkey, string(h))).Commit()
		if err != nil {
			reply(m, 503, wire.Reply{SKU: sku, Error: wire.ErrUnavailable})
			return
		}
		if resp.Succeeded {
			reply(m, 0, wire.Reply{SKU: sku, Held: n, Remaining: st.Limit - st.Sold, ID: req.ID,
				ExpiresAt: expires.UTC().Format(wire.HoldTimeFormat)})
			return
		}
	}
}

// confirm marks a live hold confirmed in one transaction on its key.
func confirm(ctx context.Context, cli *clientv3.Client, m *nats.Msg, sku string) {
	var req wire.HoldIDRequest
	if json.Unmarshal(m.Data, &req) != nil || req.ID == "" {
		reply(m, 400, wire.Reply{SKU: sku, Error: wire.ErrBadRequest})
		return
	}
	hkey := "/naive/hold/" + sku + "/" + req.ID
	resp, err := cli.Get(ctx, hkey)
	if err != nil {
		reply(m, 503, wire.Reply{SKU: sku, Error: wire.ErrUnavailable})
		return
	}
	var h holdState
	if len(resp.Kvs) == 0 || json.Unmarshal(resp.Kvs[0].Value, &h) != nil || h.State != "live" {
		reply(m, 404, wire.Reply{SKU: sku, Error: wire.ErrUnknownHold})
		return
	}
	h.State = "confirmed"
	b, _ := json.Marshal(h)
	txn, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(hkey), "=", resp.Kvs[0].ModRevision)).
		Then(clientv3.OpPut(hkey, string(b))).Commit()
	if err != nil || !txn.Succeeded {
		reply(m, 503, wire.Reply{SKU: sku, Error: wire.ErrUnavailable})
		return
	}
	reply(m, 0, wire.Reply{SKU: sku, Confirmed: h.N})
}

func load(ctx context.Context, cli *clientv3.Client, key string) (state, int64, error) {
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return state{}, 0, err
	}
	if len(resp.Kvs) == 0 {
		return state{}, 0, fmt.Errorf("no such sku")
	}
	var st state
	err = json.Unmarshal(resp.Kvs[0].Value, &st)
	return st, resp.Kvs[0].ModRevision, err
}

func queryReply(m *nats.Msg, sku string, st state) {
	reply(m, 0, wire.Reply{SKU: sku, Limit: st.Limit, Sold: st.Sold, Remaining: st.Limit - st.Sold, Leader: "naive"})
}

func reply(m *nats.Msg, code int, r wire.Reply) {
	b, _ := json.Marshal(r)
	msg := &nats.Msg{Subject: m.Reply, Data: b}
	if code != 0 {
		msg.Header = nats.Header{wire.HeaderErrorCode: []string{strconv.Itoa(code)}, wire.HeaderError: []string{r.Error}}
	}
	_ = m.RespondMsg(msg)
}
