package chaos

import (
	"fmt"
	"hash/fnv"
	"strconv"
)

// A SKU belongs to partition fnv1a32(sku) mod P, the value NATS' subject
// mapping {{partition(P,1)}} computes. The harness computes it with the
// standard library rather than the product's package, so that a bug shared
// by the two would not hide itself.

// partitionOf returns sku's partition among n (0 if n < 2).
func partitionOf(sku string, n int) int {
	if n < 2 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(sku))
	return int(h.Sum32() % uint32(n))
}

// maxNameTries bounds the search for a SKU name in a given partition.
const maxNameTries = 1 << 20

// namesIn returns, per partition of n, a name "<base>-<k>" (the smallest k)
// that falls in it, skipping names in used, which it extends; with n < 2
// the name is base itself.
func namesIn(base string, n int, used map[string]bool) ([]string, error) {
	if n < 2 {
		used[base] = true
		return []string{base}, nil
	}
	out := make([]string, n)
	left := n
	for k := 0; left > 0; k++ {
		if k >= maxNameTries {
			return nil, fmt.Errorf("chaos: no name %s-<k> found for every one of %d partitions", base, n)
		}
		name := base + "-" + strconv.Itoa(k)
		if p := partitionOf(name, n); out[p] == "" && !used[name] {
			out[p] = name
			used[name] = true
			left--
		}
	}
	return out, nil
}

// natsMappings is the mappings block a NATS server's configuration needs
// for n partitions under the prefix stock: every SKU subject gets its
// partition appended. None for n < 2, where the responder refuses mappings.
func natsMappings(n int) string {
	if n < 2 {
		return ""
	}
	s := "mappings {\n"
	for _, v := range []string{"acquire", "release", "query", "admin.set", "admin.delete", "hold", "confirm", "cancel", "extend"} {
		s += fmt.Sprintf("  \"stock.%s.*\": \"stock.%s.{{wildcard(1)}}.{{partition(%d,1)}}\"\n", v, v, n)
	}
	return s + "}\n"
}
