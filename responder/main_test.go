package responder_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/stockstate/stock/internal/testenv"
)

// TestMain fails the run if a goroutine outlives the tests: a term's writer
// or waiter timers, the elections' keepalives, or the servers' own.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testenv.EtcdClusterLeaks...)
}
