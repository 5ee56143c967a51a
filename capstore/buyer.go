package capstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockstate/stock/stock"
)

// BuyerRecord is what the store keeps of one buyer of a SKU with a
// per-buyer cap.
type BuyerRecord struct {
	Bought int64     // units the buyer has for good: acquired, or confirmed holds, less units released with the buyer
	IDs    []BuyerID // the buyer's recent request ids with their first reply, oldest first
}

// BuyerID is one request id of a buyer and the reply it got, for repeats
// to a later leader.
type BuyerID struct {
	ID    string // as the client sent it, may contain any bytes
	AtMS  int64  // when it was answered, Unix ms (the caller prunes ids older than its dedupe horizon)
	Reply []byte // a JSON object: the reply body
}

// BuyerKey names one buyer of one SKU.
type BuyerKey struct{ SKU, Buyer string }

// BuyerWrite is one buyer record to write. WithRecord: it must share a
// transaction with the put of its SKU's record in the same Writes (a
// release with a buyer: the limit rises and the buyer's count falls
// together); it is an error if Writes has no put of that SKU.
type BuyerWrite struct {
	SKU, Buyer string
	Rec        BuyerRecord
	WithRecord bool
}

// loadBuyersParallel is how many transactions LoadBuyers has in flight.
const loadBuyersParallel = 8

// LoadBuyers reads the records of keys, linearizably, in transactions of
// at most MaxTxnOps gets each, several concurrently. A key with no record
// is absent from recs; one that does not decode is in bad (an error
// wrapping ErrCorrupt that names the key and the value). Each transaction
// reads at its own revision; as only the leader writes buyers, a leader
// sees its own writes in all of them. err: the read failed, or a key has an
// empty SKU or buyer or one with a "/" (ErrInvalidName); nothing is
// returned, and retrying is safe.
func (s *Store) LoadBuyers(ctx context.Context, keys []BuyerKey) (recs map[BuyerKey]BuyerRecord, bad map[BuyerKey]error, err error) {
	seen := make(map[BuyerKey]struct{}, len(keys))
	uniq := make([]BuyerKey, 0, len(keys))
	for _, k := range keys {
		if err := checkBuyerKey(k.SKU, k.Buyer); err != nil {
			return nil, nil, fmt.Errorf("capstore: load buyers: %w", err)
		}
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			uniq = append(uniq, k)
		}
	}
	size := s.maxTxnOps()
	n := (len(uniq) + size - 1) / size
	results := make([]buyerChunk, n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, loadBuyersParallel)
	var wg sync.WaitGroup
	var failed sync.Once
	for i := range n {
		chunk := uniq[i*size : min(len(uniq), (i+1)*size)]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i] = s.getBuyers(ctx, chunk)
			if results[i].err != nil {
				failed.Do(func() { err = results[i].err }) // the first error, not the cancels it causes
				cancel()                                   // the others are of no use
			}
		})
	}
	wg.Wait()
	if err != nil {
		return nil, nil, err
	}
	recs, bad = make(map[BuyerKey]BuyerRecord, len(uniq)), map[BuyerKey]error{}
	for _, r := range results {
		for i, k := range r.keys {
			recs[k] = r.recs[i]
		}
		for k, err := range r.bad {
			bad[k] = err
		}
	}
	return recs, bad, nil
}

// buyerChunk is what getBuyers read of one chunk of keys: the records of
// keys, in order, and the errors of those that do not decode.
type buyerChunk struct {
	keys []BuyerKey
	recs []BuyerRecord
	bad  map[BuyerKey]error
	err  error
}

// getBuyers reads keys in one transaction of gets and decodes them, so
// that chunks decode while others are read.
func (s *Store) getBuyers(ctx context.Context, keys []BuyerKey) (c buyerChunk) {
	ops := make([]clientv3.Op, len(keys))
	for i, k := range keys {
		ops[i] = clientv3.OpGet(s.buyerKey(k.SKU, k.Buyer))
	}
	resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return buyerChunk{err: fmt.Errorf("capstore: load %d buyers: %w", len(keys), err)}
	}
	s.observe(resp.Header)
	for i, r := range resp.Responses {
		for _, kv := range r.GetResponseRange().GetKvs() {
			rec, err := decodeBuyer(kv.Value)
			if err != nil {
				if c.bad == nil {
					c.bad = map[BuyerKey]error{}
				}
				c.bad[keys[i]] = fmt.Errorf("%w: key %q, value %q: %w", ErrCorrupt, kv.Key, clip(kv.Value), err)
				continue
			}
			c.keys, c.recs = append(c.keys, keys[i]), append(c.recs, rec)
		}
	}
	return c
}

// checkBuyerKey refuses a SKU or buyer that is empty or holds a "/", which
// would make buyer keys ambiguous.
func checkBuyerKey(sku, buyer string) error {
	if sku == "" || buyer == "" || strings.Contains(sku, "/") || strings.Contains(buyer, "/") {
		return fmt.Errorf("%w: SKU %q, buyer %q", ErrInvalidName, sku, buyer)
	}
	return nil
}

// buyerKey is the key of buyer of sku.
func (s *Store) buyerKey(sku, buyer string) string { return s.buyerSKUPrefix(sku) + buyer }

// buyerSKUPrefix is the prefix of the keys of every buyer of sku, and of
// no other SKU's: it ends in "/".
func (s *Store) buyerSKUPrefix(sku string) string { return s.prefix + "/buyer/" + sku + "/" }

// buyerJSON is the stored form of a BuyerRecord.
type buyerJSON struct {
	Bought *int64        `json:"bought"`
	IDs    []buyerIDJSON `json:"ids,omitempty"`
}

// buyerIDJSON is the stored form of a BuyerID: the id as a JSON string if
// it is UTF-8, else its bytes in standard base64 as "id_b64", so that every
// id reads back as it was sent.
type buyerIDJSON struct {
	ID    *string         `json:"id,omitempty"`
	ID64  []byte          `json:"id_b64,omitempty"`
	AtMS  int64           `json:"at"`
	Reply json.RawMessage `json:"reply"`
}

// encodeBuyer returns r as
// {"bought":B,"ids":[{"id":"…","at":T,"reply":{…}},…]}, "ids" left out
// when there are none. It is what json.Marshal of a buyerJSON writes,
// done by hand as encodeHold is, for the same reason.
func encodeBuyer(r BuyerRecord) ([]byte, error) {
	if r.Bought < 0 || r.Bought > stock.MaxLimit {
		return nil, fmt.Errorf("bought %d out of range", r.Bought)
	}
	size := 16
	for _, id := range r.IDs {
		if id.ID == "" {
			return nil, errors.New("an empty request id")
		}
		if !isObject(id.Reply) {
			return nil, errors.New("a buyer's replies must be JSON objects")
		}
		size += 40 + 2*len(id.ID) + len(id.Reply)
	}
	b := make([]byte, 0, size)
	b = append(b, `{"bought":`...)
	b = strconv.AppendInt(b, r.Bought, 10)
	if len(r.IDs) > 0 {
		b = append(b, `,"ids":[`...)
		for i, id := range r.IDs {
			if i > 0 {
				b = append(b, ',')
			}
			if utf8.ValidString(id.ID) {
				b = append(b, `{"id":`...)
				b = appendString(b, id.ID)
			} else {
				b = append(b, `{"id_b64":"`...)
				b = base64.StdEncoding.AppendEncode(b, []byte(id.ID))
				b = append(b, '"')
			}
			b = append(b, `,"at":`...)
			b = strconv.AppendInt(b, id.AtMS, 10)
			b = append(b, `,"reply":`...)
			b = append(b, id.Reply...)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// decodeBuyer parses a stored buyer record strictly: one JSON object with
// the fields of buyerJSON and no others, 0 <= bought <= stock.MaxLimit,
// each id with exactly one of "id" and "id_b64", not empty, and an object
// reply; nothing after it. What encodeBuyer writes of UTF-8 ids without
// escapes is read by decodeBuyerWritten; anything else, by encoding/json.
func decodeBuyer(b []byte) (BuyerRecord, error) {
	if r, ok := decodeBuyerWritten(b); ok {
		return r, nil
	}
	return decodeBuyerJSON(b)
}

// decodeBuyerWritten reads a buyer record in exactly the layout encodeBuyer
// writes, with ids that need no unescaping; ok is false for anything else,
// valid or not. The replies alias b. A leader reads the buyers of a burst
// of requests at once after a failover, and encoding/json took most of
// that read.
func decodeBuyerWritten(b []byte) (r BuyerRecord, ok bool) {
	d := fastJSON{b: b, ok: true}
	if !d.field(`{"bought":`) {
		return r, false
	}
	if r.Bought = d.integer(); !d.ok || r.Bought < 0 || r.Bought > stock.MaxLimit {
		return r, false
	}
	if d.field(`,"ids":[`) {
		for len(r.IDs) == 0 || d.field(`,`) {
			var id BuyerID
			if !d.field(`{"id":"`) {
				return r, false
			}
			s, rest, found := bytes.Cut(d.b, []byte(`"`))
			if !found || !plainString(s) {
				return r, false
			}
			id.ID, d.b = string(s), rest
			if !d.field(`,"at":`) {
				return r, false
			}
			if id.AtMS = d.integer(); !d.ok || !d.field(`,"reply":`) {
				return r, false
			}
			if id.Reply = d.object(); !d.ok || !d.field(`}`) {
				return r, false
			}
			r.IDs = append(r.IDs, id)
		}
		if !d.field(`]`) {
			return r, false
		}
	}
	return r, string(d.b) == "}"
}

// decodeBuyerJSON is decodeBuyer by encoding/json.
func decodeBuyerJSON(b []byte) (BuyerRecord, error) {
	var j buyerJSON
	if err := decodeObject(b, &j); err != nil {
		return BuyerRecord{}, err
	}
	switch {
	case j.Bought == nil:
		return BuyerRecord{}, errors.New(`missing field "bought"`)
	case *j.Bought < 0 || *j.Bought > stock.MaxLimit:
		return BuyerRecord{}, fmt.Errorf("bought %d out of range", *j.Bought)
	}
	r := BuyerRecord{Bought: *j.Bought}
	if len(j.IDs) > 0 {
		r.IDs = make([]BuyerID, len(j.IDs))
	}
	for i, id := range j.IDs {
		var s string
		switch {
		case id.ID != nil && id.ID64 == nil:
			s = *id.ID
		case id.ID == nil && id.ID64 != nil:
			s = string(id.ID64)
		default:
			return BuyerRecord{}, fmt.Errorf(`id %d: want one of "id" and "id_b64"`, i)
		}
		switch {
		case s == "":
			return BuyerRecord{}, fmt.Errorf("id %d: empty", i)
		case !isObject(id.Reply):
			return BuyerRecord{}, fmt.Errorf("id %d: reply is not an object", i)
		}
		r.IDs[i] = BuyerID{ID: s, AtMS: id.AtMS, Reply: []byte(id.Reply)}
	}
	return r, nil
}
