package capstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A cluster's SKUs are spread over P partitions, each with keys of its own
// under PartitionPrefix: its SKU records, holds, buyers, release ids and
// election. P is stored once, at "<prefix>/partitions", by the first
// responder that starts, and never changes: a SKU's partition, and so where
// its record lives, depends on it.

// ErrPartitions means the cluster was created with another number of
// partitions than asked for.
var ErrPartitions = errors.New("capstore: partitions differ from the cluster's")

// partitionsKey holds the cluster's number of partitions.
func partitionsKey(prefix string) string { return normPrefix(prefix) + "/partitions" }

// PartitionPrefix is the key prefix of partition p of n under prefix: the
// prefix itself when n is 1 (a cluster without partitions keeps the keys it
// always had), else "<prefix>/p/<p>". prefix is normalised as by New.
func PartitionPrefix(prefix string, p, n int) string {
	if n <= 1 {
		return normPrefix(prefix)
	}
	return normPrefix(prefix) + "/p/" + strconv.Itoa(p)
}

// Partitions returns the cluster's number of partitions, storing want if
// none is stored yet, and fails with ErrPartitions if another is. A cluster
// that holds SKU records from before partitions (at "<prefix>/sku/") has 1.
// Concurrent first starts agree: one put wins, the others read it.
func Partitions(ctx context.Context, cli *clientv3.Client, prefix string, want int) (int, error) {
	key := partitionsKey(prefix)
	for range 3 {
		resp, err := cli.Get(ctx, key)
		if err != nil {
			return 0, fmt.Errorf("capstore: read %s: %w", key, err)
		}
		if len(resp.Kvs) == 1 {
			have, err := strconv.Atoi(string(resp.Kvs[0].Value))
			if err != nil || have < 1 {
				return 0, fmt.Errorf("capstore: %s holds %q, not a number of partitions", key, resp.Kvs[0].Value)
			}
			if have != want {
				return have, fmt.Errorf("%w: the cluster under %s has %d, this responder was started with %d; start it with -partitions %d",
					ErrPartitions, normPrefix(prefix), have, want, have)
			}
			return have, nil
		}
		store := want
		if want != 1 {
			old, err := cli.Get(ctx, normPrefix(prefix)+"/sku/", clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil {
				return 0, fmt.Errorf("capstore: read %s: %w", normPrefix(prefix)+"/sku/", err)
			}
			if old.Count > 0 {
				store = 1 // the records say so; the next read reports the difference
			}
		}
		put, err := cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, strconv.Itoa(store))).
			Commit()
		if err != nil {
			return 0, fmt.Errorf("capstore: store %s: %w", key, err)
		}
		if put.Succeeded && store == want {
			return want, nil
		}
	}
	return 0, fmt.Errorf("capstore: %s keeps changing", key)
}
