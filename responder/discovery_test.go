package responder_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// gather sends a request to subject and collects every reply for a while,
// as `nats micro ls` does.
func gather(t *testing.T, nc *nats.Conn, subject string) [][]byte {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		m, err := sub.NextMsg(300 * time.Millisecond)
		if err != nil {
			return out
		}
		out = append(out, m.Data)
	}
}

// TestDiscovery: every responder answers the micro discovery subjects;
// exactly one says it leads, and its stats count the requests it served.
func TestDiscovery(t *testing.T) {
	c := newCluster(t)
	a := c.Start("node-a", "")
	a.WaitLeading(t)
	c.Start("node-b", "")
	setLimit(t, c.NC, "sku1", 100)
	for range 5 {
		request(t, c.NC, "stock.acquire.sku1", `{"n":1}`)
	}
	request(t, c.NC, "stock.acquire.sku1", `{"n":500}`) // insufficient

	for _, subject := range []string{"$SRV.PING", "$SRV.PING.stock"} {
		pings := gather(t, c.NC, subject)
		if len(pings) != 2 {
			t.Fatalf("%s: %d replies, want 2", subject, len(pings))
		}
		leaders := 0
		for _, b := range pings {
			var p micro.Ping
			if err := json.Unmarshal(b, &p); err != nil || p.Type != micro.PingResponseType || p.Name != "stock" || p.ID == "" {
				t.Fatalf("ping reply %s: %v", b, err)
			}
			if p.Metadata["leader"] == "true" {
				leaders++
				if p.Metadata["node"] != "node-a" {
					t.Fatalf("leader is %q, want node-a", p.Metadata["node"])
				}
			}
		}
		if leaders != 1 {
			t.Fatalf("%d responders say they lead", leaders)
		}
	}

	infos := gather(t, c.NC, "$SRV.INFO.stock."+a.Server.Instance())
	if len(infos) != 1 {
		t.Fatalf("INFO of one instance: %d replies", len(infos))
	}
	var info micro.Info
	if err := json.Unmarshal(infos[0], &info); err != nil {
		t.Fatal(err)
	}
	subjects := map[string]bool{}
	for _, e := range info.Endpoints {
		subjects[e.Subject] = true
	}
	for _, want := range []string{"stock.acquire.>", "stock.release.>", "stock.query.>", "stock.admin.set.>", "stock.admin.delete.>"} {
		if !subjects[want] {
			t.Fatalf("INFO lacks endpoint %s: %+v", want, info.Endpoints)
		}
	}

	statsReplies := gather(t, c.NC, "$SRV.STATS.stock."+a.Server.Instance())
	if len(statsReplies) != 1 {
		t.Fatalf("STATS of one instance: %d replies", len(statsReplies))
	}
	var st micro.Stats
	if err := json.Unmarshal(statsReplies[0], &st); err != nil {
		t.Fatal(err)
	}
	acq := st.Endpoints[0]
	if acq.Name != "acquire" || acq.NumRequests != 6 || acq.NumErrors != 1 {
		t.Fatalf("acquire stats: %+v", acq)
	}
	var data struct {
		Units   uint64            `json:"granted_units"`
		Errors  map[string]uint64 `json:"errors"`
		SKUs    int               `json:"skus"`
		Leading bool              `json:"leading"`
	}
	if err := json.Unmarshal(acq.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.Units != 5 || data.Errors["insufficient"] != 1 || data.SKUs != 1 || !data.Leading {
		t.Fatalf("acquire data: %s", acq.Data)
	}
}
