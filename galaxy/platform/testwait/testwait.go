// Package testwait waits, in tests, for what happens in its own time: a
// condition that comes to hold, a value that arrives on a channel. Each
// wait is bounded, so a test that waits in vain fails instead of hanging.
package testwait

import (
	"testing"
	"time"
)

// every is how often Until checks again.
const every = 20 * time.Millisecond

// Until runs check until it returns nil or d has passed, and returns its
// last error: nil once it passed.
func Until(d time.Duration, check func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(every)
	}
}

// Receive returns the next value on c, failing the test when none comes
// within d; what names the awaited value in that failure.
func Receive[T any](tb testing.TB, c <-chan T, d time.Duration, what string) T {
	tb.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(d):
		tb.Fatalf("%s: nothing within %v", what, d)
		var zero T
		return zero
	}
}
