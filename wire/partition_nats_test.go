package wire_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/internal/embedded"
	"github.com/stockstate/stock/wire"
)

// TestPartitionMatchesNATS: with the mappings of PartitionMappings in a
// real nats-server, a message published on <prefix>.<verb>.<sku> arrives
// on exactly wire.SKUSubject(prefix, verb, sku, P), for every verb and a
// few hundred SKUs: the server's partition is ours.
func TestPartitionMatchesNATS(t *testing.T) {
	const parts = 16
	srv, err := embedded.StartNATS("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	prefixes := []string{"stock", "shop.stock"}
	for _, prefix := range prefixes {
		for _, m := range wire.PartitionMappings(prefix, parts) {
			if err := srv.GlobalAccount().AddMapping(m.From, m.To); err != nil {
				t.Fatalf("AddMapping(%q, %q): %v", m.From, m.To, err)
			}
		}
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	got := make(chan *nats.Msg, 1<<16)
	for _, prefix := range prefixes {
		if _, err := nc.ChanSubscribe(prefix+".>", got); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// The body of each message is the subject it was published on.
	want := map[string]string{}
	for _, prefix := range prefixes {
		for _, sku := range skuTokens() {
			for _, verb := range wire.SKUVerbs {
				from := prefix + "." + verb + "." + sku
				want[from] = wire.SKUSubject(prefix, verb, sku, parts)
				if err := nc.Publish(from, []byte(from)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool, len(want))
	timeout := time.After(20 * time.Second)
	for len(seen) < len(want) {
		select {
		case m := <-got:
			from := string(m.Data)
			to, ok := want[from]
			switch {
			case !ok:
				t.Fatalf("message %q arrived on %s: not one that was published", from, m.Subject)
			case seen[from]:
				t.Fatalf("message published on %s arrived twice", from)
			case m.Subject != to:
				t.Fatalf("message published on %s arrived on %s, want %s", from, m.Subject, to)
			}
			seen[from] = true
		case <-timeout:
			t.Fatalf("%d of %d messages arrived", len(seen), len(want))
		}
	}
	// Nothing more: every message arrived once, on its partition only.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		t.Fatalf("an extra message %q on %s", m.Data, m.Subject)
	case <-time.After(50 * time.Millisecond):
	}
	if len(seen) < 300*len(wire.SKUVerbs) {
		t.Fatalf("only %d messages checked", len(seen))
	}
}

// skuTokens are 300 SKU tokens of varied lengths and characters.
func skuTokens() []string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-:"
	var skus []string
	for i := range 200 {
		skus = append(skus, "load"+strconv.Itoa(i))
	}
	for i := range 100 {
		var b strings.Builder
		for j := range 1 + (i*13)%wire.MaxSKULen {
			b.WriteByte(alphabet[(i*17+j*5)%len(alphabet)])
		}
		skus = append(skus, b.String())
	}
	return skus
}
