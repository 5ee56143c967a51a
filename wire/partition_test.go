package wire

import (
	"hash/fnv"
	"strconv"
	"strings"
	"testing"
)

// partitionSKUs are SKU tokens of every allowed character and length.
func partitionSKUs() []string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-:"
	skus := []string{"a", "sku1", "sku-2", "A:b_c", strings.Repeat("z", MaxSKULen)}
	for i := range 300 {
		var b strings.Builder
		for j := range 1 + i%40 {
			b.WriteByte(alphabet[(i*31+j*7)%len(alphabet)])
		}
		skus = append(skus, b.String(), "load"+strconv.Itoa(i))
	}
	return skus
}

// TestPartitionFNV: Partition is 32-bit FNV-1a modulo n, for strings and
// bytes alike, and the hash matches the published test vectors.
func TestPartitionFNV(t *testing.T) {
	// FNV-1a-32 test vectors (draft-eastlake-fnv): "a" and "foobar".
	for sku, h := range map[string]uint32{"a": 0xe40c292c, "foobar": 0xbf9cf968} {
		for _, n := range []int{2, 7, 16, 1000, MaxPartitions} {
			if got, want := Partition(sku, n), int(h%uint32(n)); got != want {
				t.Errorf("Partition(%q, %d) = %d, want %d", sku, n, got, want)
			}
		}
	}
	for _, sku := range partitionSKUs() {
		h := fnv.New32a()
		h.Write([]byte(sku))
		sum := h.Sum32()
		for _, n := range []int{2, 3, 16, 17, 256, MaxPartitions} {
			want := int(sum % uint32(n))
			if got := Partition(sku, n); got != want {
				t.Fatalf("Partition(%q, %d) = %d, want %d", sku, n, got, want)
			}
			if got := Partition([]byte(sku), n); got != want {
				t.Fatalf("Partition([]byte(%q), %d) = %d, want %d", sku, n, got, want)
			}
		}
	}
}

// TestPartitionSpread: 16 partitions all get some of a thousand SKUs.
func TestPartitionSpread(t *testing.T) {
	var counts [16]int
	for i := range 1000 {
		counts[Partition("load"+strconv.Itoa(i), 16)]++
	}
	for p, c := range counts {
		if c < 20 {
			t.Errorf("partition %d got %d of 1000 SKUs: %v", p, c, counts)
		}
	}
}

func TestPartitionBelowTwo(t *testing.T) {
	for _, n := range []int{1, 0, -1, -16} {
		for _, sku := range []string{"", "a", "foobar", "sku1"} {
			if got := Partition(sku, n); got != 0 {
				t.Errorf("Partition(%q, %d) = %d, want 0", sku, n, got)
			}
		}
	}
}

func TestSKUSubject(t *testing.T) {
	p := strconv.Itoa(Partition("sku1", 16))
	tests := []struct {
		prefix, verb, sku string
		n                 int
		want              string
	}{
		{"stock", SubjectAcquire, "sku1", 1, "stock.acquire.sku1"},
		{"stock", SubjectAcquire, "sku1", 0, "stock.acquire.sku1"},
		{"stock", SubjectAcquire, "sku1", 16, "stock.acquire.sku1." + p},
		{"stock", SubjectSet, "sku1", 16, "stock.admin.set.sku1." + p},
		{"shop.stock", SubjectHold, "sku1", 16, "shop.stock.hold.sku1." + p},
		{"stock", SubjectQuery, "foobar", 7, "stock.query.foobar." + strconv.Itoa(0xbf9cf968%7)},
	}
	for _, tt := range tests {
		if got := SKUSubject(tt.prefix, tt.verb, tt.sku, tt.n); got != tt.want {
			t.Errorf("SKUSubject(%q, %q, %q, %d) = %q, want %q", tt.prefix, tt.verb, tt.sku, tt.n, got, tt.want)
		}
	}
}

func TestPartitionBatchSubject(t *testing.T) {
	for _, tt := range []struct {
		prefix, verb string
		p            int
		want         string
	}{
		{"stock", SubjectAcquire, 0, "stock.partition.0.acquire"},
		{"stock", SubjectHold, 15, "stock.partition.15.hold"},
		{"shop.stock", SubjectAcquire, 1023, "shop.stock.partition.1023.acquire"},
	} {
		if got := PartitionBatchSubject(tt.prefix, tt.verb, tt.p); got != tt.want {
			t.Errorf("PartitionBatchSubject(%q, %q, %d) = %q, want %q", tt.prefix, tt.verb, tt.p, got, tt.want)
		}
	}
}

func TestPartitionMappings(t *testing.T) {
	for _, n := range []int{1, 0, -1} {
		if ms := PartitionMappings("stock", n); ms != nil {
			t.Errorf("PartitionMappings(stock, %d) = %v, want none", n, ms)
		}
	}
	ms := PartitionMappings("shop.stock", 16)
	if len(ms) != len(SKUVerbs) {
		t.Fatalf("%d mappings, want one per verb (%d)", len(ms), len(SKUVerbs))
	}
	for i, v := range SKUVerbs {
		want := Mapping{
			From: "shop.stock." + v + ".*",
			To:   "shop.stock." + v + ".{{wildcard(1)}}.{{partition(16,1)}}",
		}
		if ms[i] != want {
			t.Errorf("mapping %d = %+v, want %+v", i, ms[i], want)
		}
	}
}

func TestConfigLine(t *testing.T) {
	tests := []struct {
		m    Mapping
		want string
	}{
		{PartitionMappings("stock", 16)[0], `"stock.acquire.*": "stock.acquire.{{wildcard(1)}}.{{partition(16,1)}}"`},
		{Mapping{From: `a"b`, To: `c\d`}, `"a\"b": "c\\d"`},
		{Mapping{}, `"": ""`},
	}
	for _, tt := range tests {
		if got := tt.m.ConfigLine(); got != tt.want {
			t.Errorf("%+v.ConfigLine() = %s, want %s", tt.m, got, tt.want)
		}
	}
}

func TestDecodePartitions(t *testing.T) {
	for _, n := range []int{1, 2, 16, 999, MaxPartitions} {
		body := AppendPartitions([]byte("junk"), n)[4:]
		if want := `{"partitions":` + strconv.Itoa(n) + `}`; string(body) != want {
			t.Fatalf("AppendPartitions(%d) = %s, want %s", n, body, want)
		}
		got, err := DecodePartitions(body)
		if err != nil || got != n {
			t.Fatalf("DecodePartitions(%s) = %d, %v; want %d", body, got, err, n)
		}
	}
	if n, err := DecodePartitions([]byte(" {\"partitions\" : 4}\n")); err != nil || n != 4 {
		t.Errorf("with spaces: %d, %v", n, err)
	}
	for _, body := range []string{
		``, `   `, `null`, `[]`, `16`, `"16"`, `{}`, `{"partitions":null}`,
		`{"partitions":"16"}`, `{"partitions":16.0}`, `{"partitions":1e1}`, `{"partitions":-1}`,
		`{"partitions":0}`, `{"partitions":1025}`, `{"partitions":99999999999999999999}`,
		`{"partitions":true}`, `{"partitions":[16]}`, `{"partitions":16,"leader":"a"}`,
		`{"Partitions":16,"x":1}`, `{"partitions":16}{}`, `{"partitions":16`, `not json`,
	} {
		n, err := DecodePartitions([]byte(body))
		if err == nil {
			t.Errorf("DecodePartitions(%s) = %d, want an error", body, n)
			continue
		}
		if !strings.Contains(err.Error(), `{"partitions":P}`) {
			t.Errorf("DecodePartitions(%s): error %q does not say what is expected", body, err)
		}
	}
}
