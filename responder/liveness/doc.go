// Package liveness tells a dead candidate of the election from a paused one
// over NATS, and ends a dead one's lease so that nobody waits out its TTL.
package liveness
