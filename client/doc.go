// Package client calls the stock protocol (DESIGN.md, "Wire protocol") over
// NATS: it encodes requests, decodes replies into typed values and typed
// errors, and retries through a change of leader.
//
// A Client is safe for concurrent use by many goroutines; it holds no
// state between calls besides its configuration, and starts no goroutines.
//
// # Failures and retries
//
// Only the leader subscribes to the request subjects, so while leadership
// moves a call gets NATS "no responders" at once, or an unavailable (503)
// reply from a node that is stepping down, or, from a leader that is paused,
// no reply at all. Each of these is retried, with exponential backoff and
// full jitter, until a reply arrives or the caller's context (bounded further
// by Config.CallTimeout) ends. Every other reply, success or error, is
// final and returned at once, as is any other NATS error (a closed
// connection, say; nats.go itself reconnects and buffers).
//
// A call whose context ends first returns an error that wraps the context's
// error and the last attempt's cause (ErrUnavailable, nats.ErrNoResponders
// or nats.ErrTimeout). Its outcome is then unknown: an acquire or release
// may have been served. To learn it, repeat the call with the same id, which
// needs an id of your own (WithID).
//
// Every attempt of one Acquire or Release call carries the same request id,
// so a retry of a request that was in fact served gets the first reply again
// and changes nothing: a retry is never a second grant, and never a second
// release. Release ids are stored with the limit change in etcd, so this
// holds across leaders. Acquire ids are remembered in the leader's memory
// only (for 2 minutes): after a change of leader a retried acquire may be
// served again. The units of the lost first grant then stay counted as sold
// and are never handed to anyone else, so this can only under-sell, never
// oversell.
package client
