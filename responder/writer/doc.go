// Package writer is a leadership term's only store writer: it batches the
// term's cap raises and changes into fenced transactions, one round at a
// time, and ends the term when a write is refused or its outcome stays
// unknown past the lease.
package writer
