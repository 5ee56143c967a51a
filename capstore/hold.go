package capstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stockstate/stock/stock"
)

// HoldRecord is what the store keeps for one hold: the hold, the first
// answer to it, and the answer of the confirm or cancel that ended it, so
// that a repeat of any of them, to any later leader, gets the first answer.
type HoldRecord struct {
	Hold  stock.Hold
	Reply []byte // the hold's answer
	End   []byte // the confirm's or cancel's answer; nil while live or once expired
	// EndedMS is when an ended hold ended (Unix ms; 0 while live, or if not
	// known), so that every later leader forgets it one dedupe horizon after
	// that, not after its own start.
	EndedMS int64
	// Buyer is the buyer the hold is for, "" if none: a confirm moves its
	// units to that buyer's count (BuyerRecord.Bought).
	Buyer string
}

// HoldWrite is one hold's record to write, or with Delete its key to
// delete (Rec unused). A live hold's key has no lease; an ended one's is
// attached to the dedupe lease, a backstop that forgets it after the
// horizon even if no leader deletes it (etcd renews every lease when its
// raft leader changes, so the leader deletes the keys it forgets too).
type HoldWrite struct {
	SKU, ID string
	Rec     HoldRecord
	Delete  bool
}

type holdJSON struct {
	N         int64           `json:"n"`
	ExpiresMS int64           `json:"expires_ms"`
	State     string          `json:"state"`
	EndedMS   int64           `json:"ended_ms,omitempty"`
	Buyer     string          `json:"buyer,omitempty"`
	Reply     json.RawMessage `json:"reply"`
	End       json.RawMessage `json:"end,omitempty"`
}

// parseHoldState is the state named s.
func parseHoldState(s string) (stock.HoldState, bool) {
	for st := stock.HoldLive; st <= stock.HoldExpired; st++ {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}

func encodeHold(r HoldRecord) ([]byte, error) {
	if !json.Valid(r.Reply) || r.End != nil && !json.Valid(r.End) {
		return nil, errors.New("a hold's replies must be JSON")
	}
	if !utf8.ValidString(r.Buyer) {
		return nil, errors.New("a hold's buyer must be UTF-8")
	}
	// What json.Marshal of a holdJSON writes, by hand: a hold is written
	// for every request, and Marshal's reflection and re-compaction of the
	// replies cost more than the rest of the write path.
	b := make([]byte, 0, 64+len(r.Buyer)+len(r.Reply)+len(r.End))
	b = append(b, `{"n":`...)
	b = strconv.AppendInt(b, r.Hold.N, 10)
	b = append(b, `,"expires_ms":`...)
	b = strconv.AppendInt(b, r.Hold.Expires.UnixMilli(), 10)
	b = append(b, `,"state":"`...)
	b = append(b, r.Hold.State.String()...) // lower-case letters only
	b = append(b, '"')
	if r.EndedMS != 0 {
		b = append(b, `,"ended_ms":`...)
		b = strconv.AppendInt(b, r.EndedMS, 10)
	}
	if r.Buyer != "" {
		b = append(b, `,"buyer":`...)
		b = appendString(b, r.Buyer) // a buyer id needs no escaping; this is the backstop
	}
	b = append(b, `,"reply":`...)
	b = append(b, r.Reply...)
	if len(r.End) > 0 {
		b = append(b, `,"end":`...)
		b = append(b, r.End...)
	}
	return append(b, '}'), nil
}

// decodeHold parses a stored hold strictly: one JSON object with the fields
// of holdJSON and no others, and nothing after it. What encodeHold wrote is
// read by decodeWritten; anything else, by encoding/json.
func decodeHold(b []byte) (HoldRecord, error) {
	if r, ok := decodeWritten(b); ok {
		return r, nil
	}
	return decodeHoldJSON(b)
}

// decodeHoldJSON is decodeHold by encoding/json.
func decodeHoldJSON(b []byte) (HoldRecord, error) {
	var j holdJSON
	if err := decodeObject(b, &j); err != nil {
		return HoldRecord{}, err
	}
	state, ok := parseHoldState(j.State)
	switch {
	case !ok:
		return HoldRecord{}, fmt.Errorf("unknown state %q", j.State)
	case j.N < 1 || j.N > stock.MaxUnits:
		return HoldRecord{}, fmt.Errorf("n %d out of range", j.N)
	case j.Reply == nil:
		return HoldRecord{}, errors.New(`missing field "reply"`)
	}
	return HoldRecord{
		Hold:  stock.Hold{N: j.N, Expires: time.UnixMilli(j.ExpiresMS), State: state},
		Reply: []byte(j.Reply), End: []byte(j.End), EndedMS: j.EndedMS, Buyer: j.Buyer,
	}, nil
}

// decodeWritten reads a hold in exactly the layout encodeHold writes, with
// object replies; ok is false for anything else, valid or not. The replies
// alias b. A new leader
// reads every live hold before it serves, and encoding/json's decoder took
// most of that read.
func decodeWritten(b []byte) (r HoldRecord, ok bool) {
	d := fastJSON{b: b, ok: true}
	if !d.field(`{"n":`) {
		return r, false
	}
	if r.Hold.N = d.integer(); !d.ok || r.Hold.N < 1 || r.Hold.N > stock.MaxUnits || !d.field(`,"expires_ms":`) {
		return r, false
	}
	if r.Hold.Expires = time.UnixMilli(d.integer()); !d.ok || !d.field(`,"state":"`) {
		return r, false
	}
	name, rest, found := bytes.Cut(d.b, []byte(`"`))
	if r.Hold.State, ok = parseHoldState(string(name)); !found || !ok {
		return r, false
	}
	d.b = rest
	if d.field(`,"ended_ms":`) {
		if r.EndedMS = d.integer(); !d.ok || r.EndedMS == 0 {
			return r, false // encodeHold omits 0
		}
	}
	if d.field(`,"buyer":"`) {
		name, rest, found := bytes.Cut(d.b, []byte(`"`))
		if !found || !plainString(name) {
			return r, false // encodeHold omits "", and escapes are for encoding/json
		}
		r.Buyer, d.b = string(name), rest
	}
	if !d.field(`,"reply":`) {
		return r, false
	}
	if r.Reply = d.object(); !d.ok {
		return r, false
	}
	if d.field(`,"end":`) {
		if r.End = d.object(); !d.ok {
			return r, false
		}
	}
	return r, string(d.b) == "}"
}

// holdKey is the key of hold id of sku.
func (s *Store) holdKey(sku, id string) string {
	return s.holdPrefix() + sku + "/" + escapeID(id)
}

func (s *Store) holdPrefix() string { return s.prefix + "/hold/" }

// parseHoldKey splits a hold key into its SKU and id.
func (s *Store) parseHoldKey(key string) (sku, id string, ok bool) {
	rest, ok := strings.CutPrefix(key, s.holdPrefix())
	if !ok {
		return "", "", false
	}
	sku, esc, ok := strings.Cut(rest, "/")
	if !ok || sku == "" || esc == "" {
		return "", "", false
	}
	return sku, unescapeID(esc), true
}

// unescapeID reverses escapeID.
func unescapeID(esc string) string {
	if !strings.Contains(esc, "%") {
		return esc
	}
	return strings.ReplaceAll(strings.ReplaceAll(esc, "%2F", "/"), "%25", "%")
}
