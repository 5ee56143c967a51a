package client_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a goroutine outlives the tests: a Client starts
// none without Batch and stops its senders on Close with it, so any left
// over belongs to a batching Client that Close did not stop, or to a
// responder, a server or a connection that a test failed to stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
