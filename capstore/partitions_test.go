package capstore_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/stock"
)

// TestPartitionsFixedAtCreation: the first start stores its number; a
// later start with the same one gets it, one with another is refused with
// the number to use; concurrent first starts agree on one.
func TestPartitionsFixedAtCreation(t *testing.T) {
	cli, _ := setup(t, "/p")
	if n, err := capstore.Partitions(ctx(t), cli, "/p", 16); n != 16 || err != nil {
		t.Fatalf("first start: %d %v", n, err)
	}
	if n, err := capstore.Partitions(ctx(t), cli, "/p", 16); n != 16 || err != nil {
		t.Fatalf("same again: %d %v", n, err)
	}
	n, err := capstore.Partitions(ctx(t), cli, "/p", 4)
	if !errors.Is(err, capstore.ErrPartitions) || n != 16 || !strings.Contains(err.Error(), "-partitions 16") {
		t.Fatalf("another number: %d %v", n, err)
	}

	var wg sync.WaitGroup
	got := make([]int, 8)
	errs := make([]error, 8)
	for i := range got {
		wg.Go(func() { got[i], errs[i] = capstore.Partitions(ctx(t), cli, "/race", 1+i%2*7) })
	}
	wg.Wait()
	won := 0
	for i := range got {
		if errs[i] == nil {
			won = got[i]
		}
	}
	for i := range got {
		if got[i] != won || (errs[i] == nil) != (1+i%2*7 == won) {
			t.Fatalf("start %d: %d %v; the cluster has %d", i, got[i], errs[i], won)
		}
	}
}

// TestPartitionsOfAnOlderCluster: SKU records stored without partitions
// make the cluster one of 1 partition, so a start with more is refused
// instead of serving none of them.
func TestPartitionsOfAnOlderCluster(t *testing.T) {
	cli, store := setup(t, "/old")
	fence, _ := lead(t, cli, "/old/leader/x")
	if ok, err := store.Commit(ctx(t), "/old/leader/x", fence, map[string]stock.Record{"sku1": {Limit: 5}}, nil); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, err := capstore.Partitions(ctx(t), cli, "/old", 16); !errors.Is(err, capstore.ErrPartitions) {
		t.Fatalf("16 partitions over old records: %v", err)
	}
	if n, err := capstore.Partitions(ctx(t), cli, "/old", 1); n != 1 || err != nil {
		t.Fatalf("1 partition: %d %v", n, err)
	}
}

func TestPartitionPrefix(t *testing.T) {
	for _, tc := range []struct {
		p, n int
		want string
	}{{0, 1, "/stock"}, {0, 16, "/stock/p/0"}, {15, 16, "/stock/p/15"}} {
		if got := capstore.PartitionPrefix("/stock/", tc.p, tc.n); got != tc.want {
			t.Errorf("PartitionPrefix(%d, %d) = %q, want %q", tc.p, tc.n, got, tc.want)
		}
	}
}
