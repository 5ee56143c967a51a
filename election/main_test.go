package election_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine outlives the tests: the package's
// own (keepalive, watchdog, background revokes), the etcd client's, the
// embedded etcd's and the test proxy's. No goroutine needs ignoring: testenv
// closes etcd and every client in t.Cleanup, each Elector is closed by the
// test that made it, and goleak retries while goroutines wind down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
