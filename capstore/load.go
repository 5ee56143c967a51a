package capstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockstate/stock/stock"
)

// Load reads every SKU at one revision: the first page is a linearizable
// read and later pages read at its revision, PageSize keys at a time. A
// value that does not parse, or parses to a record that is not Valid, is
// reported in bad (an error wrapping ErrCorrupt that names the key and the
// value) and left out of recs. err != nil means nothing usable was read (for
// example, the revision was compacted between pages); retrying is safe.
func (s *Store) Load(ctx context.Context) (recs map[string]stock.Record, bad map[string]error, err error) {
	recs, bad = map[string]stock.Record{}, map[string]error{}
	pfx := s.skuPrefix()
	sized := func(n int64) { recs = make(map[string]stock.Record, n) }
	if err := s.scan(ctx, pfx, sized, func(key, value []byte) { putRecord(recs, bad, pfx, key, value) }); err != nil {
		return nil, nil, err
	}
	return recs, bad, nil
}

// SKUNames returns the names of up to limit SKUs, in key order, and whether
// there are more: a keys-only read, for views that list SKUs without
// loading their records.
func (s *Store) SKUNames(ctx context.Context, limit int) (names []string, more bool, err error) {
	p := s.skuPrefix()
	resp, err := s.cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(int64(limit)))
	if err != nil {
		return nil, false, fmt.Errorf("capstore: list SKUs: %w", err)
	}
	for _, kv := range resp.Kvs {
		names = append(names, string(kv.Key[len(p):]))
	}
	return names, resp.More, nil
}

// CountSKUs returns how many SKUs have a record: a count-only read.
func (s *Store) CountSKUs(ctx context.Context) (int64, error) {
	resp, err := s.cli.Get(ctx, s.skuPrefix(), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("capstore: count SKUs: %w", err)
	}
	return resp.Count, nil
}

// LoadHolds reads every hold, as Load reads SKUs: holds[sku][id]. A key or
// value that does not parse is reported in bad under its key, wrapping
// ErrCorrupt. A new leader reads them, then the records of their SKUs
// (Get); as no other node writes once it leads, both reads see the same
// state.
func (s *Store) LoadHolds(ctx context.Context) (holds map[string]map[string]HoldRecord, bad map[string]error, err error) {
	holds, bad = map[string]map[string]HoldRecord{}, map[string]error{}
	err = s.scan(ctx, s.holdPrefix(), nil, func(key, value []byte) {
		sku, id, ok := s.parseHoldKey(string(key))
		if !ok {
			bad[string(key)] = fmt.Errorf("%w: key %q is not <prefix>/hold/<sku>/<id>", ErrCorrupt, key)
			return
		}
		r, err := decodeHold(value)
		if err != nil {
			bad[string(key)] = fmt.Errorf("%w: key %q, value %q: %w", ErrCorrupt, key, clip(value), err)
			return
		}
		if holds[sku] == nil {
			holds[sku] = map[string]HoldRecord{}
		}
		holds[sku][id] = r
	})
	if err != nil {
		return nil, nil, err
	}
	return holds, bad, nil
}

// scan calls f for every key under pfx at one revision: the first page is a
// linearizable read and later pages read at its revision, PageSize keys at a
// time. The next page is read while f runs over the last one. sized, unless
// nil, is first told how many keys there are (the first page's count, so
// that a map of them is made at its size once).
func (s *Store) scan(ctx context.Context, pfx string, sized func(n int64), f func(key, value []byte)) error {
	end := clientv3.GetPrefixRangeEnd(pfx)
	get := func(key string, rev int64) <-chan rangeResult {
		ch := make(chan rangeResult, 1)
		go func() {
			opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(s.pageSize())}
			if rev != 0 {
				opts = append(opts, clientv3.WithRev(rev))
			}
			resp, err := s.cli.Get(ctx, key, opts...)
			if err != nil {
				err = fmt.Errorf("capstore: load %s at revision %d: %w", pfx, rev, err)
			}
			ch <- rangeResult{resp, err}
		}()
		return ch
	}
	next, rev := get(pfx, 0), int64(0)
	for {
		page := <-next
		if page.err != nil {
			return page.err
		}
		if rev == 0 {
			rev = page.resp.Header.Revision
			if sized != nil {
				sized(page.resp.Count)
			}
		}
		kvs := page.resp.Kvs
		more := page.resp.More && len(kvs) > 0
		if more {
			next = get(string(kvs[len(kvs)-1].Key)+"\x00", rev)
		}
		for _, kv := range kvs {
			f(kv.Key, kv.Value)
		}
		if !more {
			return nil
		}
	}
}

// rangeResult is one page that scan read.
type rangeResult struct {
	resp *clientv3.GetResponse
	err  error
}

// Get reads the records of skus at one revision, linearizably, in
// transactions of at most MaxTxnOps reads. Absent SKUs are missing from
// recs; unparsable ones are in bad, as in Load. err != nil means nothing
// usable was read; retrying is safe.
func (s *Store) Get(ctx context.Context, skus []string) (recs map[string]stock.Record, bad map[string]error, err error) {
	recs, bad = map[string]stock.Record{}, map[string]error{}
	pfx := s.skuPrefix()
	uniq := slices.Compact(slices.Sorted(slices.Values(skus)))
	rev := int64(0)
	for chunk := range slices.Chunk(uniq, s.maxTxnOps()) {
		ops := make([]clientv3.Op, len(chunk))
		for i, sku := range chunk {
			if rev != 0 {
				ops[i] = clientv3.OpGet(s.skuKey(sku), clientv3.WithRev(rev))
			} else {
				ops[i] = clientv3.OpGet(s.skuKey(sku))
			}
		}
		resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, nil, fmt.Errorf("capstore: get %d SKUs at revision %d: %w", len(chunk), rev, err)
		}
		s.observe(resp.Header)
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, r := range resp.Responses {
			for _, kv := range r.GetResponseRange().GetKvs() {
				putRecord(recs, bad, pfx, kv.Key, kv.Value)
			}
		}
	}
	return recs, bad, nil
}

// putRecord decodes one stored record, whose key is under pfx, into recs, or its
// error into bad.
func putRecord(recs map[string]stock.Record, bad map[string]error, pfx string, key, value []byte) {
	sku := strings.TrimPrefix(string(key), pfx)
	r, err := decodeLoaded(value)
	if err != nil {
		bad[sku] = fmt.Errorf("%w: key %q, value %q: %w", ErrCorrupt, key, clip(value), err)
		return
	}
	recs[sku] = r
}

// decodeLoaded decodes a stored record as decodeRecord does, without
// encoding/json when it is in exactly the layout encodeRecord writes (the
// bytes encodeRecord gives for the record read), which is what a leader
// loading many records meets; anything else goes to decodeRecord. A new
// leader decodes every record before it serves, and decodeRecord takes
// most of that time.
func decodeLoaded(b []byte) (stock.Record, error) {
	var r stock.Record
	d := fastJSON{b: b}
	ok := d.field(`{"limit":`)
	if ok {
		r.Limit = d.integer()
		ok = d.ok && d.field(`,"cap":`)
	}
	if ok {
		r.Cap = d.integer()
		ok = d.ok
	}
	if ok && d.field(`,"expired_ms":`) {
		r.ExpiredMS = d.integer()
		ok = d.ok
	}
	if ok && d.field(`,"per_buyer":`) {
		r.PerBuyer = d.integer()
		ok = d.ok
	}
	if !ok || string(d.b) != "}" || !r.Valid() || !bytes.Equal(encodeRecord(r), b) {
		return decodeRecord(b)
	}
	return r, nil
}

// clip shortens a value for an error message.
func clip(b []byte) []byte {
	const n = 128
	if len(b) <= n {
		return b
	}
	return append(b[:n:n], "..."...)
}
