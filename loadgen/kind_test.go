package loadgen

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/wire"
)

func TestClassify(t *testing.T) {
	hdr := func(kv ...string) nats.Header {
		h := nats.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name string
		msg  *nats.Msg
		want Kind
	}{
		{"grant", &nats.Msg{Data: []byte(`{"sku":"a","granted":1,"remaining":0}`)}, KindGranted},
		{"no responders", &nats.Msg{Header: hdr("Status", "503")}, KindNoResponders},
		{"sold out", &nats.Msg{Header: hdr(wire.HeaderErrorCode, "409"), Data: []byte(`{"sku":"a","remaining":0,"error":"sold_out"}`)}, KindSoldOut},
		{"insufficient", &nats.Msg{Data: []byte(`{"sku":"a","remaining":1,"error":"insufficient"}`)}, KindInsufficient},
		{"unavailable", &nats.Msg{Data: []byte(`{"error":"unavailable"}`)}, KindUnavailable},
		{"bad request", &nats.Msg{Data: []byte(`{"error":"bad_request"}`)}, KindBadRequest},
		{"unknown sku", &nats.Msg{Data: []byte(`{"error":"unknown_sku"}`)}, KindUnknownSKU},
		{"internal", &nats.Msg{Data: []byte(`{"error":"internal"}`)}, KindInternal},
		{"buyer limit", &nats.Msg{Header: hdr(wire.HeaderErrorCode, "409"),
			Data: []byte(`{"sku":"a","granted":0,"remaining":41,"error":"buyer_limit","message":"m","bought":1,"held":1,"per_buyer":2}`)}, KindBuyerLimit},
		{"header only 503", &nats.Msg{Header: hdr(wire.HeaderErrorCode, "503"), Data: []byte(`oops`)}, KindUnavailable},
		{"header only 409 remaining", &nats.Msg{Header: hdr(wire.HeaderErrorCode, "409"), Data: []byte(`{"remaining":2}`)}, KindInsufficient},
		{"unknown error kind", &nats.Msg{Data: []byte(`{"error":"weird"}`)}, KindInvalid},
		{"zero grant", &nats.Msg{Data: []byte(`{"sku":"a","granted":0}`)}, KindInvalid},
		{"empty", &nats.Msg{}, KindInvalid},
		{"other status", &nats.Msg{Header: hdr("Status", "408")}, KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v wire.ReplyView
			if got := classify(tt.msg, &v); got != tt.want {
				t.Fatalf("classify = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestKindNames: every kind has its own name, and each error kind of the
// protocol maps to the Kind of that name.
func TestKindNames(t *testing.T) {
	seen := map[string]Kind{}
	for k := range numKinds {
		if prev, dup := seen[k.String()]; dup || k.String() == "" {
			t.Errorf("kinds %d and %d both named %q", prev, k, k.String())
		}
		seen[k.String()] = k
	}
	for _, e := range wire.Kinds {
		if k := kindOfError(e); k == KindInvalid || k.String() != e {
			t.Errorf("error kind %q maps to %v", e, k)
		}
	}
}
