// Package capstore keeps each SKU's limit and cap in etcd and writes them
// only in transactions fenced on the leader key.
//
// # Key layout
//
// With the default prefix "/stock" (one trailing "/" of a prefix is dropped):
//
//	<prefix>/sku/<sku>            {"limit":100,"cap":57}: the SKU's stock.Record
//	<prefix>/release/<sku>/<id>   the bytes of the first reply to release request <id>,
//	                              attached to a lease whose TTL is the dedupe horizon
//	<prefix>/hold/<sku>/<id>      a hold: {"n":2,"expires_ms":…,"state":"live","buyer":"u-1","reply":{…}}
//	                              ("buyer" only if it has one); once ended ("confirmed",
//	                              "cancelled", "expired", with the "end" reply), attached to
//	                              the dedupe lease
//	<prefix>/buyer/<sku>/<buyer>  one buyer of a SKU with a per-buyer cap:
//	                              {"bought":3,"ids":[{"id":"r-1","at":…,"reply":{…}}]},
//	                              its count and recent request ids; no lease, deleted
//	                              with the SKU
//	<prefix>/leader/              the election prefix: candidates' keys live here
//
// ElectionPrefix returns "<prefix>/leader", the form concurrency.NewElection
// takes (it appends the "/").
//
// In a release or hold key, every "%" of the id is written "%25" and every "/" is
// written "%2F", so the id is always the last path element and two
// (sku, id) pairs never share a key. Ids made of letters, digits, "-", "_"
// and "." appear as they are.
//
// A record is JSON with exactly the two integer fields "limit" and "cap",
// 0 <= cap <= limit <= stock.MaxLimit, and, once holds of the SKU expired,
// "expired_ms" >= 0 (stock.Record.ExpiredMS: a live hold key due by then
// has expired and its units are counted in the limit), and, if the SKU
// caps what one buyer takes, "per_buyer" <= stock.MaxLimit (absent: no cap). Anything
// else under <prefix>/sku/ is reported as corrupt, never read as zero.
//
// Buyer ids and SKUs need no escaping in a buyer key; a "/" in either is
// refused. A buyer's request id is a JSON string, or, if it is not UTF-8,
// its bytes in base64 as "id_b64"; each reply is a JSON object embedded as
// it was sent.
//
// # Fencing and failure
//
// Every write is a transaction guarded by
// Compare(ModRevision(leaderKey), "=", fenceRev): a write that fails the
// compare changes nothing and is reported as committed=false. The fence
// revision is the leader key's create revision until the leader moves it
// with Refence, which rewrites the key in place; a leader does that before
// it retries a write whose outcome is unknown, so that the earlier attempt,
// should it land late, fails its compare instead of overwriting newer
// records. Any error from a write means its outcome is unknown: it may or
// may not have been applied. Reads are linearizable.
//
// A Store holds no goroutines and needs no Close; it is safe for concurrent
// use.
package capstore
