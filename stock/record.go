package stock

// Record is what the store keeps for one SKU: the limit and the persisted
// cap. It is the only part of an Item that survives a change of leader.
type Record struct {
	Limit int64 `json:"limit"`
	Cap   int64 `json:"cap"`
	// ExpiredMS: every hold of the SKU due at or before this Unix time in
	// milliseconds that was not confirmed or cancelled has expired, and its
	// units are counted back in Limit; 0 when none has. It only rises, so
	// an expiry of many holds is one record write, and a later leader
	// knows a live hold due by then as expired without its own write.
	ExpiredMS int64 `json:"expired_ms,omitempty"`
}

// Valid reports whether r can describe a SKU: 0 <= Cap <= Limit <= MaxLimit
// and ExpiredMS >= 0.
func (r Record) Valid() bool {
	return r.Cap >= 0 && r.Cap <= r.Limit && r.Limit <= MaxLimit && r.ExpiredMS >= 0
}
