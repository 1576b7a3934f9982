// Package testwait waits, in tests, for what happens in its own time: a
// condition that comes to hold, a value that arrives on a channel, a
// binary's ready file. Each wait is bounded, so a test that waits in vain
// fails instead of hanging.
package testwait

import (
	"fmt"
	"testing"
	"time"

	"galaxy/platform/readyfile"
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

// ReadyFile waits up to d for the ready file at path (platform/readyfile)
// and returns its document. It fails the test when d passes first, or when
// a value arrives on exited, the result of what was to write the file (a
// run that returned, a process that exited): that value is put back, for
// whatever else waits on exited. logs, unless nil, is what that wrote,
// shown in the failure.
func ReadyFile(tb testing.TB, path string, d time.Duration, exited chan error, logs fmt.Stringer) readyfile.Document {
	tb.Helper()
	shown := func() string {
		if logs == nil {
			return ""
		}
		return "; logs:\n" + logs.String()
	}
	deadline := time.After(d)
	for {
		if doc, err := readyfile.Read(path); err == nil {
			return doc
		}
		select {
		case err := <-exited:
			exited <- err
			tb.Fatalf("ended before its ready file was written: %v%s", err, shown())
		case <-deadline:
			tb.Fatalf("no ready file %s within %v%s", path, d, shown())
		case <-time.After(every):
		}
	}
}
