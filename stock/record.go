package stock

// Record is what the store keeps for one SKU: the limit, the persisted
// cap, the expiry mark and the per-buyer cap. It is the only part of an
// Item that survives a change of leader.
type Record struct {
	Limit int64 `json:"limit"`
	Cap   int64 `json:"cap"`
	// ExpiredMS: every hold of the SKU due at or before this Unix time in
	// milliseconds that was not confirmed or cancelled has expired, and its
	// units are counted back in Limit; 0 when none has. It only rises, so
	// an expiry of many holds is one record write, and a later leader
	// knows a live hold due by then as expired without its own write.
	ExpiredMS int64 `json:"expired_ms,omitempty"`
	// PerBuyer is the most units one buyer may take of the SKU; 0: no cap.
	PerBuyer int64 `json:"per_buyer,omitempty"`
}

// Valid reports whether r can describe a SKU: 0 <= Cap <= Limit <= MaxLimit,
// ExpiredMS >= 0 and 0 <= PerBuyer <= MaxLimit.
func (r Record) Valid() bool {
	return r.Cap >= 0 && r.Cap <= r.Limit && r.Limit <= MaxLimit && r.ExpiredMS >= 0 &&
		r.PerBuyer >= 0 && r.PerBuyer <= MaxLimit
}
