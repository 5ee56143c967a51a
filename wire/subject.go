package wire

import "fmt"

// Subjects under a prefix (default "stock"); the SKU is the last token,
// except on the batch subject <prefix>.acquire itself (batch.go).
const (
	SubjectAcquire = "acquire"
	SubjectRelease = "release"
	SubjectQuery   = "query"
	SubjectSet     = "admin.set"
	SubjectDelete  = "admin.delete"
	SubjectEvents  = "events" // published by the leader, not requested
)

// Limits on request fields.
const (
	MaxSKULen = 128
	MaxIDLen  = 128
)

// ValidSKU reports whether s is a SKU token: 1..128 of A-Z a-z 0-9 _ - :.
// The same token is a NATS subject token and a segment of a store key.
func ValidSKU[S string | []byte](s S) bool {
	if len(s) == 0 || len(s) > MaxSKULen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == ':') {
			return false
		}
	}
	return true
}

// ErrSKU is the reason given for a SKU token that is not valid.
var ErrSKU = fmt.Errorf("sku must be 1 to %d characters from A-Z, a-z, 0-9, underscore, hyphen and colon", MaxSKULen)

// ValidPrefix reports whether p can prefix the protocol's subjects: one or
// more literal NATS subject tokens (no wildcards, no empty token).
func ValidPrefix(p string) bool {
	if p == "" || p[0] == '.' || p[len(p)-1] == '.' {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '*' || c == '>' || c <= ' ' || c == 0x7f:
			return false
		case c == '.' && p[i-1] == '.':
			return false
		}
	}
	return true
}
