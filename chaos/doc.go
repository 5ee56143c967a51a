// Package chaos runs the product as real separate processes (a 3-member etcd
// cluster, a 3-node NATS cluster and 3 responders, each reaching etcd
// through its own proxies), injects faults drawn from a seed while clients
// record every request and reply, and checks the recorded history.
//
// The pieces, one file each:
//
//	build.go    go build of the responder, etcd and nats-server into a directory
//	proc.go     child processes in their own process groups, killed with the test
//	cluster.go  the cluster: start, restart, find the leader, cut a node from etcd
//	wire.go     the few reply shapes of the protocol the harness reads
//	load.go     clients that record every attempt (send time, reply time, outcome)
//	holds.go    holders: hold, then confirm, cancel or abandon, on a SKU of their own
//	buyers.go   buyer clients: acquires and holds for buyers of SKUs capped per buyer
//	faults.go   the fault kinds, the schedule drawn from a seed, injection
//	run.go      one run: cluster, load, faults, final state, as a History
//	history.go  what a run records, and its file format
//	check.go    the checker: oversell, duplicate units, stale grants, losses, gaps
//	leaders.go  the checker's part on queries: a superseded leader must stay silent
//	checkholds.go the checker's part on holds: first answers repeated, units back once
//	checkbuyers.go the checker's part on buyers: no buyer over its cap, its count covers what it got
//	kinds.go    sums per fault kind, percentiles
//	report.go   the summary table and the product's targets
//	timeline.go the picture of a run: grants per 100 ms, leader, faults, gaps
//	trace.go    an optional log of the election keys, to explain gaps
//
// A run is replayed by its seed: the seed fixes the order of the faults and
// every random parameter (hold times, which etcd member or NATS node, how
// the etcd connection is cut); which process leads at each fault is observed
// at run time.
//
// The package is driven by its test (go test ./chaos -run TestChaos
// -chaos.duration 10m -chaos.seed N); see RELIABILITY.md for figures.
package chaos
