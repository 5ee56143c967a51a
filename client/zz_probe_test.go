package client_test

import (
	"testing"

	"github.com/stockstate/stock/client"
)

func TestZZProbeSequential(t *testing.T) {
	_, c := leading(t, nil)
	ctx := ctx(t)
	if _, err := c.SetLimitPerBuyer(ctx, "sku1", 100, 5); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		g, err := c.Acquire(ctx, "sku1", 1, client.WithBuyer("u-1"))
		b, qerr := c.QueryBuyer(ctx, "sku1", "u-1")
		t.Logf("acquire %d: %+v %v; query %+v %v", i, g, err, b, qerr)
	}
}
