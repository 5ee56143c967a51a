package main

import (
	"context"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// putAll puts the count keys that put names (put(i) is the i-th), in
// transactions of perTxn puts, writers of them at once. The first error
// cancels the rest and is returned; so is ctx's end.
func putAll(ctx context.Context, cli *clientv3.Client, count, perTxn, writers int, put func(i int) clientv3.Op) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range writers {
		wg.Go(func() {
			ops := make([]clientv3.Op, 0, perTxn)
			for from := range next {
				ops = ops[:0]
				for i := from; i < min(count, from+perTxn); i++ {
					ops = append(ops, put(i))
				}
				if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
feed:
	for from := 0; from < count; from += perTxn {
		select {
		case next <- from:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
