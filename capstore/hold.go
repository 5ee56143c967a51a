package capstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/stockstate/stock/stock"
)

// HoldRecord is what the store keeps for one hold: the hold, the first
// answer to it, and the answer of the confirm or cancel that ended it, so
// that a repeat of any of them, to any later leader, gets the first answer.
type HoldRecord struct {
	Hold  stock.Hold
	Reply []byte // the hold's answer
	End   []byte // the confirm's or cancel's answer; nil while live or once expired
}

// HoldWrite is one hold's record to write. A live hold's key has no lease;
// an ended one's is attached to the dedupe lease, so it is forgotten after
// the horizon.
type HoldWrite struct {
	SKU, ID string
	Rec     HoldRecord
}

type holdJSON struct {
	N         int64           `json:"n"`
	ExpiresMS int64           `json:"expires_ms"`
	State     string          `json:"state"`
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
	// What json.Marshal of a holdJSON writes, by hand: a hold is written
	// for every request, and Marshal's reflection and re-compaction of the
	// replies cost more than the rest of the write path.
	b := make([]byte, 0, 64+len(r.Reply)+len(r.End))
	b = append(b, `{"n":`...)
	b = strconv.AppendInt(b, r.Hold.N, 10)
	b = append(b, `,"expires_ms":`...)
	b = strconv.AppendInt(b, r.Hold.Expires.UnixMilli(), 10)
	b = append(b, `,"state":"`...)
	b = append(b, r.Hold.State.String()...) // lower-case letters only
	b = append(b, `","reply":`...)
	b = append(b, r.Reply...)
	if len(r.End) > 0 {
		b = append(b, `,"end":`...)
		b = append(b, r.End...)
	}
	return append(b, '}'), nil
}

func decodeHold(b []byte) (HoldRecord, error) {
	var j holdJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return HoldRecord{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return HoldRecord{}, errors.New("data after the object")
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
		Reply: []byte(j.Reply), End: []byte(j.End),
	}, nil
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
