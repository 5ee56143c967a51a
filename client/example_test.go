package client_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stockstate/stock/client"
)

func ExampleClient_Acquire() {
	nc, stop := exampleCluster()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := client.New(nc, client.DefaultConfig())
	if err != nil {
		panic(err)
	}
	if _, err := c.SetLimit(ctx, "sku1", 5); err != nil {
		panic(err)
	}

	for _, n := range []int64{3, 3, 2, 1} {
		g, err := c.Acquire(ctx, "sku1", n)
		var cerr *client.Error
		switch {
		case err == nil:
			fmt.Printf("asked %d: granted %d, %d remaining\n", n, g.Granted, g.Remaining)
		case errors.Is(err, client.ErrSoldOut):
			fmt.Printf("asked %d: sold out\n", n)
		case errors.Is(err, client.ErrInsufficient) && errors.As(err, &cerr):
			fmt.Printf("asked %d: only %d remaining\n", n, cerr.Remaining)
		default:
			panic(err)
		}
	}
	// Output:
	// asked 3: granted 3, 2 remaining
	// asked 3: only 2 remaining
	// asked 2: granted 2, 0 remaining
	// asked 1: sold out
}

// A request repeated with the same id gets the first reply again and
// changes nothing; the client itself repeats a request this way when it
// retries.
func ExampleWithID() {
	nc, stop := exampleCluster()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := client.New(nc, client.DefaultConfig())
	if err != nil {
		panic(err)
	}
	if _, err := c.SetLimit(ctx, "sku1", 100); err != nil {
		panic(err)
	}
	for range 2 {
		g, err := c.Acquire(ctx, "sku1", 2, client.WithID("order-42"))
		if err != nil {
			panic(err)
		}
		fmt.Printf("granted %d, %d remaining\n", g.Granted, g.Remaining)
	}
	s, err := c.Query(ctx, "sku1")
	if err != nil {
		panic(err)
	}
	fmt.Printf("limit %d, sold %d, leader %s\n", s.Limit, s.Sold, s.Leader)

	r, err := c.Release(ctx, "sku1", 2, client.WithID("cancel-42"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("released %d, %d remaining\n", r.Released, r.Remaining)
	// Output:
	// granted 2, 98 remaining
	// granted 2, 98 remaining
	// limit 100, sold 2, leader node-a
	// released 2, 100 remaining
}
