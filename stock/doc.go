// Package stock is the pure arithmetic of one SKU's window: the limit L, the
// units sold S and the persisted cap C, with S <= C <= L at all times.
//
// A leader grants units from the window [S, C) only, and C must be durable
// before any unit of a raised window is granted. Nothing here does I/O or
// reads a clock: callers pass the time in, persist the caps, and lock.
package stock
