package wire

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"
)

// TestEncodersMatchEncodingJSON: the hand-written replies decode to the
// intended Reply.
func TestEncodersMatchEncodingJSON(t *testing.T) {
	cases := []struct {
		name string
		body []byte
		want Reply
	}{
		{"grant", AppendGrant(nil, "s", 2, 41), Reply{SKU: "s", Granted: 2, Remaining: 41}},
		{"release", AppendRelease(nil, "s", 2, 43), Reply{SKU: "s", Released: 2, Remaining: 43}},
		{"query", AppendQuery(nil, "s", 100, 57, 5, 0, Quote("node \"a\"")), Reply{SKU: "s", Limit: 100, Sold: 57, Held: 5, Remaining: 43, Leader: "node \"a\""}},
		{"query capped", AppendQuery(nil, "s", 100, 57, 5, 2, Quote("n")), Reply{SKU: "s", Limit: 100, Sold: 57, Held: 5, PerBuyer: 2, Remaining: 43, Leader: "n"}},
		{"buyer", AppendBuyer(nil, "s", "u-1@x.y", 2, 1, 1, 41), Reply{SKU: "s", Buyer: "u-1@x.y", PerBuyer: 2, Held: 1, Bought: 1, Remaining: 41}},
		{"buyer_limit", AppendBuyerLimit(nil, "s\"", 40, 1, 1, 2, "2 requested \"", false), Reply{SKU: "s\"", Remaining: 40, Error: ErrBuyerLimit, Message: "2 requested \"", Bought: 1, Held: 1, PerBuyer: 2}},
		{"hold", AppendHold(nil, "s", 2, 41, "cart \"42\"", time.Date(2026, 12, 5, 14, 15, 0, 0, time.FixedZone("x", 3600))), Reply{SKU: "s", Held: 2, Remaining: 41, ID: "cart \"42\"", ExpiresAt: "2026-12-05T13:15:00Z"}},
		{"confirmed", AppendConfirmed(nil, "s", 2), Reply{SKU: "s", Confirmed: 2}},
		{"cancelled", AppendCancelled(nil, "s", 2, 43), Reply{SKU: "s", Cancelled: 2, Remaining: 43}},
		{"deleted", AppendDeleted(nil, "s"), Reply{SKU: "s", Deleted: true}},
		{"error", AppendError(nil, "s\x00\"", 3, ErrInsufficient, "5 > 3 \u2028"), Reply{SKU: "s\x00\"", Remaining: 3, Error: ErrInsufficient, Message: "5 > 3 \u2028"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got Reply
			dec := json.NewDecoder(bytes.NewReader(tc.body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("%s: %v", tc.body, err)
			}
			if got != tc.want {
				t.Fatalf("%s decodes to %+v, want %+v", tc.body, got, tc.want)
			}
		})
	}
}

// FuzzAppendError: whatever SKU and message a client's request carried, the
// error reply is one JSON object that decodes to them exactly.
func FuzzAppendError(f *testing.F) {
	f.Add("sku1", "sold out", int64(0))
	f.Add("s\x00\"\\", "5 > 3 \u2028 <\xff>", int64(3))
	f.Fuzz(func(t *testing.T, sku, message string, remaining int64) {
		if !utf8.ValidString(sku) || !utf8.ValidString(message) {
			return // encoding/json replaces invalid UTF-8; the reply then differs by design
		}
		body := AppendError(nil, sku, remaining, ErrInsufficient, message)
		var got Reply
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		want := Reply{SKU: sku, Remaining: remaining, Error: ErrInsufficient, Message: message}
		if got != want || dec.More() {
			t.Fatalf("%q decodes to %+v, want %+v", body, got, want)
		}
	})
}
