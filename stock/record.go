package stock

// Record is what the store keeps for one SKU: the limit and the persisted
// cap. It is the only part of an Item that survives a change of leader.
type Record struct {
	Limit int64 `json:"limit"`
	Cap   int64 `json:"cap"`
}

// Valid reports whether r can describe a SKU: 0 <= Cap <= Limit <= MaxLimit.
func (r Record) Valid() bool {
	return r.Cap >= 0 && r.Cap <= r.Limit && r.Limit <= MaxLimit
}
