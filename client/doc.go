// Package client calls the stock protocol (DESIGN.md, "Wire protocol") over
// NATS: it encodes requests, decodes replies into typed values and typed
// errors, and retries through a change of leader.
//
// A Client is safe for concurrent use by many goroutines. Without
// Config.Batch it holds no state between calls besides its configuration
// and the partitions it learned, and starts no goroutines that outlive a
// call; with it, it runs the batcher until Close.
//
// # Batching
//
// With Config.Batch, Acquire calls made at the same time share requests:
// each call queues an item (SKU, n, id) and Config.MaxInFlight sender
// goroutines (1 by default) each send what is queued, up to
// Config.MaxBatch items, as one binary request on <prefix>.acquire (with
// partitions, see below, each partition has its queue and senders), wait
// for its reply and hand every caller its own item's result. Nothing waits
// to fill a batch: a lone call is sent at once, as a batch of one; while a
// batch is in flight, the calls that arrive form the next one, so batches
// grow with the load. Each item is all or nothing on its own and gets its
// own result or typed error. A caller whose context ends while its item is
// still queued takes it out, unsent; a batch is never cut short for one
// caller.
//
// A batched call is retried as a single one is, item by item: an item
// answered unavailable, or whose whole batch met no responders or no reply
// within Config.Timeout, is queued again after the caller's backoff, with
// the same id, and joins a later batch; the leader deduplicates ids across
// the batch and single subjects, so a retry is never a second grant.
// Items answered otherwise return at once, whatever the other items of
// their batch got.
//
// # Partitions
//
// A cluster may spread its SKUs over P partitions, each served by a leader
// of its own; a SKU's partition is wire.Partition(sku, P), the FNV-1a hash
// that NATS' {{partition(P,1)}} subject mapping computes. Config.Partitions
// tells the Client P, or with 0 has it ask the cluster (<prefix>.partitions)
// on the first call, once; Client.Partitions says what it routes by. With P
// above 1 every call that names a SKU goes to <prefix>.<verb>.<sku>.<p>
// (wire.SKUSubject), batched acquires queue by partition and travel on
// <prefix>.partition.<p>.acquire, and Holds sends one message per
// partition on <prefix>.partition.<p>.hold, all at once, putting the
// results back in the order of its items. Partitions fail over on their
// own, and so do their calls: a partition without a leader holds up and
// fails only the calls and items of its SKUs, by the rules below. With P 1
// (the default) the subjects are those without partitions, which a
// partitioned cluster still serves, through its subject mappings and by
// splitting batches, at the cost of a hop and a split.
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
//
// # Holds
//
// Hold reserves units for a checkout under an id of the caller's (a cart
// id, say); Confirm sells them, Cancel gives them back, Extend moves the
// expiry, and the leader gives them back itself once they expire. Holds
// and their endings are stored in etcd before the reply, so every call of
// them is retried like Release: a repeat with the same id, served by any
// later leader, gets the first reply. Holds are never batched.
//
// # Per-buyer caps
//
// SetLimitPerBuyer caps the units one buyer may take of a SKU. Acquire,
// Release and Hold name their buyer with WithBuyer (Holds with
// HoldItem.Buyer); a request that would take the buyer past the cap, its
// units for good and in live holds counted, returns ErrBuyerLimit, final
// and not retried, with the buyer's figures in the *Error. QueryBuyer
// tells what one buyer has. A batching Client sends an Acquire with a
// buyer on the single subject, as binary batches carry no buyer.
package client
