package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/wire"
)

// With -partitions P above 1 every request goes to its SKU's partition
// (wire.Partition): single requests and the admin requests to
// <prefix>.<verb>.<sku>.<p>, batches to <prefix>.partition.<p>.acquire. A
// batch is picked as without partitions, then split into one part per
// partition among its items; each part is a request of its own (its own
// message, reply, timeout, retry and late reply), so every count of items
// is as before and a part that meets no responders is retried alone. The
// parts of one batch share a batchGroup, and a closed-loop slot starts its
// next batch when the last of them ends.

// askPartitions asks the responders for the cluster's number of
// partitions on <prefix>.partitions, as patiently as the admin requests.
func askPartitions(ctx context.Context, nc *nats.Conn, prefix string, timeout time.Duration) (int, error) {
	subject := prefix + "." + wire.SubjectPartitions
	var n int
	err := patiently(ctx, func(ctx context.Context) error {
		m, err := requestOnce(ctx, nc, subject, nil, timeout)
		if err != nil {
			return err
		}
		if m.Header != nil && m.Header.Get(wire.HeaderErrorCode) != "" {
			var r wire.Reply
			if json.Unmarshal(m.Data, &r) != nil || r.Error == "" {
				r.Error = wire.KindOfCode(atoi(m.Header.Get(wire.HeaderErrorCode)))
				r.Message = m.Header.Get(wire.HeaderError)
			}
			return &errReply{Subject: subject, Reply: r}
		}
		if n, err = wire.DecodePartitions(m.Data); err != nil {
			return fmt.Errorf("loadgen: %s: reply %.64q: %w", subject, m.Data, err)
		}
		return nil
	})
	return n, err
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// routes are where a phase's requests go: per SKU its subject, per
// partition its batch subject, and per SKU its partition (nil with one
// partition, when batches are not split).
type routes struct {
	subjects  []string
	batchSubs []string
	skuPart   []int32
}

// realRoutes are the routes of op's requests to the responders of parts
// partitions under prefix. With one partition they are the subjects
// without partitions: <prefix>.<op>.<sku>, and <prefix>.<op> for batches.
func realRoutes(prefix, op string, names []string, parts int) routes {
	r := routes{subjects: make([]string, len(names))}
	for i, name := range names {
		r.subjects[i] = wire.SKUSubject(prefix, op, name, parts)
	}
	if parts < 2 {
		r.batchSubs = []string{subjectOf(prefix, op)}
		return r
	}
	r.batchSubs = make([]string, parts)
	for p := range parts {
		r.batchSubs[p] = wire.PartitionBatchSubject(prefix, op, p)
	}
	r.skuPart = make([]int32, len(names))
	for i, name := range names {
		r.skuPart[i] = int32(wire.Partition(name, parts))
	}
	return r
}

// nullRoutes are the null responder's: <subject>.<sku>, and <subject> for
// batches, without partitions.
func nullRoutes(subject string, names []string) routes {
	r := routes{subjects: make([]string, len(names)), batchSubs: []string{subject}}
	for i, name := range names {
		r.subjects[i] = subject + "." + name
	}
	return r
}

// batchGroup ties the parts of one batch, under the worker's mu: left is
// the number of its parts that have not ended.
type batchGroup struct{ left int }

// splitLocked splits batch r into one part per partition among its items,
// in the order the partitions first appear, each with its own SKU list;
// the first part is returned with the others in more. A batch of one
// partition is returned whole.
func (w *worker) splitLocked(r request) request {
	w.touched = w.touched[:0]
	for _, k := range r.skus {
		p := w.ph.skuPart[k]
		if w.byPart[p] == nil {
			w.byPart[p] = w.skuListLocked()
			w.touched = append(w.touched, p)
		}
		w.byPart[p] = append(w.byPart[p], k)
	}
	w.free = append(w.free, r.skus) // the parts have lists of their own
	var g *batchGroup
	if len(w.touched) > 1 {
		g = &batchGroup{left: len(w.touched)}
		r.more = make([]request, 0, len(w.touched)-1)
	}
	for i, p := range w.touched {
		part := request{key: r.key, first: r.first, skus: w.byPart[p], part: p, group: g}
		w.byPart[p] = nil
		if i == 0 {
			part.more = r.more
			r = part
			continue
		}
		r.more = append(r.more, part)
	}
	return r
}

// skuListLocked is an empty SKU list with room for a batch, recycled if
// one is free.
func (w *worker) skuListLocked() []int32 {
	if n := len(w.free); n > 0 {
		l := w.free[n-1][:0]
		w.free = w.free[:n-1]
		return l
	}
	return make([]int32, 0, w.ph.batch)
}

// slotNextLocked is nextLocked for the closed-loop slot whose request r
// has ended: a part of a split batch moves the slot on only as the last
// of its group.
func (w *worker) slotNextLocked(r request, now time.Duration) (request, bool) {
	if r.group != nil {
		if r.group.left--; r.group.left > 0 {
			return request{}, false
		}
	}
	return w.nextLocked(now)
}
