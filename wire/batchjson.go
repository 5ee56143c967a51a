package wire

import (
	"bytes"
	"encoding/json"

	"github.com/stockstate/stock/stock"
)

// jsonItems splits a JSON batch into its items, unread: a body that is not
// a JSON array of at most MaxBatchItems is an error.
func jsonItems(body []byte) ([]json.RawMessage, error) {
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '[' {
		return nil, errNotBatch
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, errNotBatch
	}
	if len(raw) > MaxBatchItems {
		return nil, errTooManyItems(len(raw))
	}
	return raw, nil
}

// DecodeJSONBatch reads a JSON batch, [{"sku":"a","n":2,"id":"x","buyer":"u-1"}, ...],
// into items whose spans point into data, which it appends the SKUs, ids
// and buyers to. msgs holds, per item, why it could not be read ("" if it could). A
// body that is not a JSON array of at most MaxBatchItems fails whole.
func DecodeJSONBatch(body []byte, items []ItemSpan, data []byte, msgs []string) ([]ItemSpan, []byte, []string, error) {
	raw, err := jsonItems(body)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, r := range raw {
		var it struct {
			SKU   *string         `json:"sku"`
			N     json.RawMessage `json:"n"`
			ID    *string         `json:"id"`
			Buyer *string         `json:"buyer"`
		}
		var item ItemSpan
		msg := ""
		if err := strictUnmarshal(r, &it); err != nil {
			items, msgs = append(items, item), append(msgs, err.Error())
			continue
		}
		if it.SKU != nil {
			item.skuOff, item.skuLen = uint32(len(data)), uint32(len(*it.SKU))
			data = append(data, *it.SKU...)
		}
		if it.ID != nil {
			item.idOff, item.idLen = uint32(len(data)), uint32(len(*it.ID))
			data = append(data, *it.ID...)
			if *it.ID == "" {
				msg = "id must not be empty"
			}
		}
		if it.Buyer != nil {
			item.buyerOff, item.buyerLen = uint32(len(data)), uint32(len(*it.Buyer))
			data = append(data, *it.Buyer...)
			if !ValidBuyer(*it.Buyer) {
				msg = ErrBuyer.Error()
			}
		}
		item.N = 1
		if it.N != nil {
			n, err := parseCount(it.N, stock.MaxUnits)
			if err != nil || n < 1 {
				msg = errUnits.Error()
			}
			item.N = n
		}
		items, msgs = append(items, item), append(msgs, msg)
	}
	return items, data, msgs, nil
}
