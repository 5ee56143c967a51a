package writer

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/stockstate/stock/internal/testenv"
)

// TestMain fails the run if a writer's goroutine outlives its Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testenv.EtcdClusterLeaks...)
}
