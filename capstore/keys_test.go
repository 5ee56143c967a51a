package capstore

import "testing"

func TestPrefixAndKeys(t *testing.T) {
	tests := []struct {
		name, prefix, norm, election string
	}{
		{"default", "", "/stock", "/stock/leader"},
		{"plain", "/stock", "/stock", "/stock/leader"},
		{"trailing slash", "/shop/", "/shop", "/shop/leader"},
		{"only one slash stripped", "/shop//", "/shop/", "/shop//leader"},
		{"no leading slash", "app", "app", "app/leader"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(nil, tt.prefix)
			if s.Prefix() != tt.norm {
				t.Errorf("Prefix() = %q, want %q", s.Prefix(), tt.norm)
			}
			if got := ElectionPrefix(tt.prefix); got != tt.election {
				t.Errorf("ElectionPrefix = %q, want %q", got, tt.election)
			}
			if got, want := s.skuKey("sku1"), tt.norm+"/sku/sku1"; got != want {
				t.Errorf("skuKey = %q, want %q", got, want)
			}
		})
	}
}

func TestReleaseKey(t *testing.T) {
	s := New(nil, "")
	tests := []struct {
		name, sku, id, want string
	}{
		{"plain", "sku1", "req-124", "/stock/release/sku1/req-124"},
		{"slash in id", "a", "b/c", "/stock/release/a/b%2Fc"},
		{"slash in sku", "a/b", "c", "/stock/release/a/b/c"},
		{"percent in id", "a", "b%2Fc", "/stock/release/a/b%252Fc"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.releaseKey(tt.sku, tt.id)
			if got != tt.want {
				t.Errorf("releaseKey(%q, %q) = %q, want %q", tt.sku, tt.id, got, tt.want)
			}
			if other, ok := seen[got]; ok {
				t.Errorf("key %q shared with %s", got, other)
			}
			seen[got] = tt.name
		})
	}
}
