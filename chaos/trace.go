package chaos

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// traceElection logs the keys of the election (node, lease, create
// revision) each time they change, polling every 50ms straight to the etcd
// members, until ctx ends. It explains gaps: which key a standby waited on.
func (c *cluster) traceElection(ctx context.Context) {
	var eps []string
	for _, m := range c.etcd {
		eps = append(eps, m.client)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		c.cfg.logf("trace: %v", err)
		return
	}
	defer cli.Close()
	last := ""
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for range maxSamples {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		gctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		resp, err := cli.Get(gctx, "/stock/leader/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
		cancel()
		var keys []string
		if err != nil {
			keys = []string{"error: " + err.Error()}
		} else {
			for _, kv := range resp.Kvs {
				keys = append(keys, fmt.Sprintf("%s@%d(lease %x)", kv.Value, kv.CreateRevision, kv.Lease))
			}
		}
		if s := strings.Join(keys, " "); s != last {
			last = s
			c.cfg.logf("trace: election keys: %s", s)
		}
	}
}
