// Package responder answers the stock protocol over NATS while its node
// leads, from in-memory windows whose caps it persists, fenced, before it
// grants from them (DESIGN.md).
//
// A Server campaigns, and for each leadership term it reads the holds and
// their SKUs, subscribes, and serves, reading every other SKU on its first
// request, each resumed at its cap, until the term ends: on a
// graceful stop it drains, trims the caps to what was sold and resigns; on a
// lost lease, a refused write or an unknown write outcome it stops answering
// at once and campaigns again with a fresh lease.
package responder
