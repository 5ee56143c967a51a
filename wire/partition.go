package wire

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// SKUs are spread over P partitions (P is fixed when a cluster is created).
// A SKU belongs to partition fnv1a32(sku) mod P: the value that a NATS
// subject mapping {{partition(P,1)}} computes for the SKU token, so people
// keep sending <prefix>.<verb>.<sku> and the NATS servers append the
// partition, while programs may compute it and send to the partitioned
// subject themselves. With P = 1 nothing is appended.
//
//	<prefix>.<verb>.<sku>.<p>        a SKU subject of partition p (P > 1)
//	<prefix>.partition.<p>.acquire   the acquire batch subject of partition p
//	<prefix>.partition.<p>.hold      the hold batch subject of partition p
//	<prefix>.partitions              answered by every responder: {"partitions":P}
//
// <prefix>.acquire and <prefix>.hold keep taking batches of any SKUs: the
// responder that receives one splits it by partition.

// MaxPartitions bounds P.
const MaxPartitions = 1024

// SubjectPartitions is where every responder answers {"partitions":P}.
const SubjectPartitions = "partitions"

// SKUVerbs are the request subjects that end in a SKU token, and so route
// by partition.
var SKUVerbs = [...]string{
	SubjectAcquire, SubjectRelease, SubjectQuery, SubjectSet, SubjectDelete,
	SubjectHold, SubjectConfirm, SubjectCancel, SubjectExtend,
}

// Partition returns the partition of sku among n: 32-bit FNV-1a of the token
// modulo n, as nats-server's subject transform computes it. n < 2 gives 0.
func Partition[S string | []byte](sku S, n int) int {
	if n < 2 {
		return 0
	}
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for i := 0; i < len(sku); i++ {
		h ^= uint32(sku[i])
		h *= prime
	}
	return int(h % uint32(n))
}

// SKUSubject is the subject of verb for sku under prefix, with the partition
// token appended when there are partitions (n > 1).
func SKUSubject(prefix, verb, sku string, n int) string {
	s := prefix + "." + verb + "." + sku
	if n > 1 {
		s += "." + strconv.Itoa(Partition(sku, n))
	}
	return s
}

// PartitionBatchSubject is the batch subject of verb (SubjectAcquire or
// SubjectHold) of partition p.
func PartitionBatchSubject(prefix, verb string, p int) string {
	return prefix + ".partition." + strconv.Itoa(p) + "." + verb
}

// Mapping is one NATS subject mapping: requests published to From are
// delivered on To.
type Mapping struct{ From, To string }

// PartitionMappings are the subject mappings a NATS account needs for n
// partitions under prefix, one per SKU verb; none for n < 2.
func PartitionMappings(prefix string, n int) []Mapping {
	if n < 2 {
		return nil
	}
	ms := make([]Mapping, 0, len(SKUVerbs))
	for _, v := range SKUVerbs {
		base := prefix + "." + v
		ms = append(ms, Mapping{From: base + ".*", To: base + ".{{wildcard(1)}}.{{partition(" + strconv.Itoa(n) + ",1)}}"})
	}
	return ms
}

// ConfigLine is m as a line of a nats-server configuration's mappings block.
func (m Mapping) ConfigLine() string { return strconv.Quote(m.From) + ": " + strconv.Quote(m.To) }

// AppendPartitions encodes the reply of SubjectPartitions.
func AppendPartitions(b []byte, n int) []byte {
	b = append(b, `{"partitions":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '}')
}

// errPartitions is the reason given for a partitions reply that is not one.
var errPartitions = fmt.Errorf(`a partitions reply must be {"partitions":P} with P an integer from 1 to %d`, MaxPartitions)

// DecodePartitions decodes the reply of SubjectPartitions: exactly
// {"partitions":P}, P an integer from 1 to MaxPartitions. Anything else
// (another field, a P that is missing, quoted, fractional or out of range,
// not JSON) is an error saying what is wrong.
func DecodePartitions(body []byte) (int, error) {
	var r struct {
		Partitions json.RawMessage `json:"partitions"`
	}
	if err := strictUnmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("%w: %w", errPartitions, err)
	}
	if r.Partitions == nil {
		return 0, fmt.Errorf(`%w: "partitions" is missing`, errPartitions)
	}
	n, err := parseCount(r.Partitions, MaxPartitions)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%w: got %.32s", errPartitions, r.Partitions)
	}
	return int(n), nil
}
