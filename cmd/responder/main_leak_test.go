package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a goroutine outlives the tests: Close must stop
// everything Run started, the embedded servers included.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
