package capstore

import "strings"

// DefaultPrefix is the key prefix used when New is given an empty one.
const DefaultPrefix = "/stock"

// normPrefix maps "" to DefaultPrefix and drops one trailing "/".
func normPrefix(prefix string) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return strings.TrimSuffix(prefix, "/")
}

// ElectionPrefix returns "<prefix>/leader", the value to pass to
// concurrency.NewElection, which appends "/" itself: candidates' keys are
// then "<prefix>/leader/<lease id>". prefix is normalised as by New.
func ElectionPrefix(prefix string) string {
	return normPrefix(prefix) + "/leader"
}

// skuPrefix is the prefix of every SKU's record key.
func (s *Store) skuPrefix() string { return s.prefix + "/sku/" }

// skuKey is the key of sku's record.
func (s *Store) skuKey(sku string) string { return s.prefix + "/sku/" + sku }

// releaseKey is the key that remembers the first reply to release id of sku.
func (s *Store) releaseKey(sku, id string) string {
	return s.prefix + "/release/" + sku + "/" + escapeID(id)
}

// escapeID makes id a single path element, reversibly: "%" becomes "%25",
// then "/" becomes "%2F".
func escapeID(id string) string {
	if !strings.ContainsAny(id, "%/") {
		return id
	}
	return strings.ReplaceAll(strings.ReplaceAll(id, "%", "%25"), "/", "%2F")
}
