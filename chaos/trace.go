package chaos

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// electionTrace watches the election queue of every partition straight on
// the etcd members (not through the responders' proxies) for the whole run,
// and records each change of the key at its head: who leads the partition
// from then on. It also reads etcd linearizably every 20 ms, noting each
// read's send time, reply time and revision; a change at revision R was
// committed after the send of a read that saw a revision below R, and
// before the reply of one that saw R. So the times of a change are a
// bracket of when etcd made it, however late the watch delivered it (a
// watch on a killed member reconnects to another and resumes).
//
// Each partition has its own watch goroutine; a watch that fails (a member
// without a raft leader, a compaction) is replaced after reading the queue
// again, and a change found that way is bracketed by the revisions before
// and after the gap. With Trace set every change of a queue is logged too,
// to explain gaps.
type electionTrace struct {
	cli      *clientv3.Client
	start    time.Time
	prefixes []string // per partition, its election queue's key prefix
	logf     func(format string, args ...any)
	logKeys  bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu      sync.Mutex
	raw     []rawChange   // guarded by mu
	samples []clockSample // guarded by mu
}

type rawChange struct {
	part           int
	node, instance string
	revLo, revHi   int64 // the change happened at a revision in [revLo, revHi]
	seen           time.Duration
}

type clockSample struct {
	send, recv time.Duration
	rev        int64
}

// electionPrefix is partition p's election queue under the etcd prefix
// /stock of a cluster of n partitions: /stock/leader/ without partitions,
// else /stock/p/<p>/leader/.
func electionPrefix(p, n int) string {
	if n < 2 {
		return "/stock/leader/"
	}
	return "/stock/p/" + strconv.Itoa(p) + "/leader/"
}

// maxResyncs bounds how often a partition's watch is started again.
const maxResyncs = 100_000

// startTrace starts watching the n partitions' queues of the etcd members
// at endpoints; times are since start.
func startTrace(endpoints []string, n int, start time.Time, logKeys bool, logf func(string, ...any)) (*electionTrace, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("chaos: trace: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &electionTrace{cli: cli, start: start, logf: logf, logKeys: logKeys, cancel: cancel}
	for p := range max(n, 1) {
		t.prefixes = append(t.prefixes, electionPrefix(p, n))
	}
	t.wg.Add(len(t.prefixes) + 1)
	go func() { defer t.wg.Done(); t.clock(ctx) }()
	for p := range t.prefixes {
		go func() { defer t.wg.Done(); t.watch(ctx, p) }()
	}
	return t, nil
}

func (t *electionTrace) now() time.Duration { return time.Since(t.start) }

// stop ends the watches and returns every change, bracketed. Safe to call
// once.
func (t *electionTrace) stop() []LeaderChange {
	t.cancel()
	t.wg.Wait()
	t.cli.Close()
	t.mu.Lock()
	defer t.mu.Unlock()
	return bracket(t.raw, t.samples)
}

// clock reads etcd linearizably every 20 ms until ctx ends.
func (t *electionTrace) clock(ctx context.Context) {
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for range 5 * maxSamples {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		send := t.now()
		gctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := t.cli.Get(gctx, "/chaos/clock", clientv3.WithCountOnly())
		cancel()
		if err != nil {
			continue
		}
		s := clockSample{send: send, recv: t.now(), rev: resp.Header.Revision}
		t.mu.Lock()
		t.samples = append(t.samples, s)
		t.mu.Unlock()
	}
}

// queueKey is a key of an election queue.
type queueKey struct {
	create int64
	value  string
}

// watch follows partition p's queue until ctx ends.
func (t *electionTrace) watch(ctx context.Context, p int) {
	pfx := t.prefixes[p]
	keys := map[string]queueKey{}
	head := "" // the key at the head, "" if none
	var last int64
	for range maxResyncs {
		if ctx.Err() != nil {
			return
		}
		gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := t.cli.Get(gctx, pfx, clientv3.WithPrefix())
		cancel()
		if err != nil {
			_ = sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		clear(keys)
		for _, kv := range resp.Kvs {
			keys[string(kv.Key)] = queueKey{create: kv.CreateRevision, value: string(kv.Value)}
		}
		head = t.update(p, keys, head, last+1, resp.Header.Revision)
		last = resp.Header.Revision
		wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for wr := range t.cli.Watch(wctx, pfx, clientv3.WithPrefix(), clientv3.WithRev(last+1)) {
			if wr.Err() != nil || wr.Canceled {
				break
			}
			evs := wr.Events
			for i := 0; i < len(evs); {
				rev := evs[i].Kv.ModRevision
				for ; i < len(evs) && evs[i].Kv.ModRevision == rev; i++ {
					kv := evs[i].Kv
					if evs[i].Type == mvccpb.DELETE {
						delete(keys, string(kv.Key))
					} else {
						keys[string(kv.Key)] = queueKey{create: kv.CreateRevision, value: string(kv.Value)}
					}
				}
				head = t.update(p, keys, head, rev, rev)
				last = rev
			}
		}
		wcancel()
	}
}

// update records a change of p's head if keys, the queue at a revision in
// [revLo, revHi], has another head than head; it returns the head.
func (t *electionTrace) update(p int, keys map[string]queueKey, head string, revLo, revHi int64) string {
	first := ""
	var fk queueKey
	for k, v := range keys {
		if first == "" || v.create < fk.create {
			first, fk = k, v
		}
	}
	if t.logKeys {
		var q []string
		for k, v := range keys {
			q = append(q, fmt.Sprintf("%s@%d(%s)", v.value, v.create, k[strings.LastIndexByte(k, '/')+1:]))
		}
		slices.Sort(q)
		t.logf("trace: partition %d at rev %d: election keys %s", p, revHi, strings.Join(q, " "))
	}
	if first == head {
		return head
	}
	c := rawChange{part: p, revLo: revLo, revHi: revHi, seen: t.now()}
	if first != "" {
		c.node, c.instance = splitCandidate(fk.value)
	}
	t.mu.Lock()
	t.raw = append(t.raw, c)
	t.mu.Unlock()
	if t.logKeys {
		t.logf("trace: partition %d: %q leads from rev %d", p, c.node, revHi)
	}
	return first
}

// splitCandidate splits a candidate value "<node id>#<instance>".
func splitCandidate(v string) (node, instance string) {
	if i := strings.LastIndexByte(v, '#'); i >= 0 {
		return v[:i], v[i+1:]
	}
	return v, ""
}

// bracket turns the raw changes into LeaderChanges, per partition in the
// order seen, each bracketed by the clock samples: after the send of the
// last read below its lowest revision, before the reply of the first read
// at or above its highest (and before it was seen).
func bracket(raw []rawChange, samples []clockSample) []LeaderChange {
	ss := slices.Clone(samples)
	slices.SortStableFunc(ss, func(a, b clockSample) int { return cmp.Compare(a.rev, b.rev) })
	maxSend := make([]time.Duration, len(ss)) // prefix maxima
	minRecv := make([]time.Duration, len(ss)) // suffix minima
	for i, s := range ss {
		maxSend[i] = s.send
		if i > 0 {
			maxSend[i] = max(maxSend[i], maxSend[i-1])
		}
	}
	for i := len(ss) - 1; i >= 0; i-- {
		minRecv[i] = ss[i].recv
		if i+1 < len(ss) {
			minRecv[i] = min(minRecv[i], minRecv[i+1])
		}
	}
	out := make([]LeaderChange, 0, len(raw))
	for _, c := range raw {
		lc := LeaderChange{Partition: c.part, Node: c.node, Instance: c.instance, Rev: c.revHi, Hi: c.seen}
		if i, _ := slices.BinarySearchFunc(ss, c.revLo, func(s clockSample, r int64) int { return cmp.Compare(s.rev, r) }); i > 0 {
			lc.Lo = maxSend[i-1]
		}
		if i, _ := slices.BinarySearchFunc(ss, c.revHi, func(s clockSample, r int64) int { return cmp.Compare(s.rev, r) }); i < len(ss) {
			lc.Hi = min(lc.Hi, minRecv[i])
		}
		lc.Lo = min(lc.Lo, lc.Hi)
		out = append(out, lc)
	}
	slices.SortStableFunc(out, func(a, b LeaderChange) int { return cmp.Compare(a.Partition, b.Partition) })
	return out
}
