// Package chaos runs the product as real separate processes (a 3-member etcd
// cluster, a 3-node NATS cluster and 3 responders, each reaching etcd
// through its own proxies), injects faults drawn from a seed while clients
// record every request and reply, and checks the recorded history.
//
// The SKUs are spread over partitions (16 by default, as docker-compose.yml
// runs; 1 for none): the NATS nodes map the SKU subjects to their
// partition, every partition has its own leader, and each acquire client
// but three sends to the SKUs of one partition, so that a partition whose
// leader is gone holds up no client of another. "The leader" a fault hits
// is the responder that leads the most partitions; the fault is measured
// on the partitions it led, and the other partitions' longest gap is
// reported beside it. The election keys of every partition are watched in
// etcd throughout, so that the checker knows who led each partition when.
//
// The pieces, one file each:
//
//	build.go    go build of the responder, etcd and nats-server into a directory
//	proc.go     child processes in their own process groups, killed with the test
//	partition.go a SKU's partition, SKU names in each partition, the NATS mappings
//	cluster.go  the cluster: start, restart, find each partition's leader, cut a node from etcd
//	wire.go     the few reply shapes of the protocol the harness reads
//	load.go     clients that record every attempt (send time, reply time, outcome), one partition each
//	holds.go    holders: hold, then confirm, cancel or abandon, on a SKU of their own
//	buyers.go   buyer clients: acquires and holds for buyers of SKUs capped per buyer
//	faults.go   the fault kinds, the schedule drawn from a seed, injection
//	run.go      one run: cluster, load, faults, final state, as a History
//	history.go  what a run records, and its file format
//	check.go    the checker: oversell, duplicate units, stale grants, losses, gaps
//	leaders.go  the checker's part on queries: a superseded leader of a partition must stay silent
//	checkparts.go the checker's part on partitions: gaps of the partitions hit and of the others, handoffs
//	checkholds.go the checker's part on holds: first answers repeated, units back once
//	checkbuyers.go the checker's part on buyers: no buyer over its cap, its count covers what it got
//	kinds.go    sums per fault kind, percentiles
//	report.go   the summary table and the product's targets
//	timeline.go the picture of a run: grants per 100 ms, each partition's leader, faults, gaps
//	trace.go    the election keys of every partition, watched: who led each when, bracketed in time
//
// A run is replayed by its seed: the seed fixes the order of the faults and
// every random parameter (hold times, which etcd member or NATS node, how
// the etcd connection is cut); which process leads which partitions at each
// fault is observed at run time.
//
// The package is driven by its test (go test ./chaos -run TestChaos
// -chaos.duration 10m -chaos.seed N -chaos.partitions 16) and by
// cmd/chaos; see RELIABILITY.md for figures.
package chaos
