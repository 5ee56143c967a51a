package chaos

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stockstate/stock/wire"
)

// The harness computes partitions and writes the NATS mappings on its own;
// they must agree with what the responders expect, or the responders
// refuse to serve (mappings) or the checker files SKUs under the wrong
// partition.
func TestPartitionAgreesWithTheProduct(t *testing.T) {
	for _, n := range []int{1, 2, 3, 16, 1024} {
		for i := range 500 {
			sku := fmt.Sprintf("sku-%d", i)
			if got, want := partitionOf(sku, n), wire.Partition(sku, n); got != want {
				t.Fatalf("partitionOf(%q, %d) = %d, the product says %d", sku, n, got, want)
			}
		}
	}
	conf := natsMappings(16)
	ms := wire.PartitionMappings("stock", 16)
	if len(ms) == 0 || strings.Count(conf, "\n")-2 != len(ms) {
		t.Fatalf("%d mappings in\n%s\nthe product wants %d", strings.Count(conf, "\n")-2, conf, len(ms))
	}
	for _, m := range ms {
		if !strings.Contains(conf, m.ConfigLine()) {
			t.Errorf("mappings lack %s:\n%s", m.ConfigLine(), conf)
		}
	}
	if natsMappings(1) != "" {
		t.Error("mappings for one partition")
	}
}

func TestNamesIn(t *testing.T) {
	used := map[string]bool{}
	for _, base := range []string{"hot", "scarce-a"} {
		names, err := namesIn(base, 16, used)
		if err != nil {
			t.Fatal(err)
		}
		for p, name := range names {
			if !strings.HasPrefix(name, base+"-") || partitionOf(name, 16) != p {
				t.Errorf("%s: %q for partition %d is in %d", base, name, p, partitionOf(name, 16))
			}
		}
	}
	if len(used) != 32 {
		t.Errorf("%d names used, want 32 distinct", len(used))
	}
	if names, _ := namesIn("hot", 1, map[string]bool{}); len(names) != 1 || names[0] != "hot" {
		t.Errorf("one partition: %v", names)
	}
}

// With 16 partitions every partition gets the same share of the acquire
// clients, and with one the first Size are patient and the rest its own.
func TestClientsOf(t *testing.T) {
	n, clients := 16, DefaultClients(16)
	seen := map[int]int{}
	for p := range n {
		cs := clientsOf(p, n, clients)
		if len(cs) != 2 {
			t.Errorf("partition %d: clients %v, want 2", p, cs)
		}
		for _, c := range cs {
			if (c-Size)%n != p {
				t.Errorf("client %d of partition %d sends to %d", c, p, (c-Size)%n)
			}
			seen[c]++
		}
	}
	if len(seen) != clients-Size {
		t.Errorf("%d clients spread, want %d", len(seen), clients-Size)
	}
	if cs := clientsOf(0, 1, DefaultClients(1)); len(cs) != 13 || DefaultClients(1) != 16 {
		t.Errorf("one partition: %d clients of %d", len(cs), DefaultClients(1))
	}
}
