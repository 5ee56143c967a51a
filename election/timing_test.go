package election

import (
	"testing"
	"time"
)

// WaitOnTime waits until done is closed and fails the test if it closed more
// than slack after deadline. Lateness is measured against a plain timer set
// for the same deadline, so that a loaded test machine (-race, busy CPUs),
// which delays every timer, does not count against the code under test. It
// returns when done was seen closed. Exported for the election_test package.
func WaitOnTime(t testing.TB, done <-chan struct{}, deadline time.Time, slack time.Duration) time.Time {
	t.Helper()
	ref := time.NewTimer(time.Until(deadline))
	defer ref.Stop()
	limit := time.NewTimer(time.Until(deadline) + 5*time.Second)
	defer limit.Stop()
	var refAt time.Time
	refC := ref.C
	for {
		select {
		case <-done:
			doneAt := time.Now()
			if refAt.IsZero() {
				select {
				case <-refC:
					refAt = doneAt
				default:
					return doneAt // before the reference timer fired: on time
				}
			}
			t.Logf("closed %v after the deadline, %v after a timer set for it fired",
				doneAt.Sub(deadline), doneAt.Sub(refAt))
			if late := doneAt.Sub(refAt); late > slack {
				t.Errorf("closed %v after a timer set for the deadline fired, want <= %v", late, slack)
			}
			return doneAt
		case <-refC:
			refAt = time.Now()
			refC = nil
		case <-limit.C:
			t.Fatalf("not closed %v after the deadline", 5*time.Second)
			return time.Time{}
		}
	}
}
