package testwait_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"galaxy/platform/readyfile"
	"galaxy/platform/testwait"
)

// recorder is a testing.TB whose Fatalf records the failure and ends the
// goroutine, as the testing package's does.
type recorder struct {
	testing.TB
	failure string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failure = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// failure runs wait with a recorder and returns what it failed with, ""
// when it did not fail.
func failure(t *testing.T, wait func(testing.TB)) string {
	t.Helper()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		wait(r)
	}()
	<-done
	return r.failure
}

type logs string

func (l logs) String() string { return string(l) }

func TestReadyFile(t *testing.T) {
	t.Parallel()
	want := readyfile.Document{Service: "test", PID: 42, Addresses: map[string]string{"http": "127.0.0.1:1"}}
	tests := []struct {
		name    string
		write   bool          // the ready file is written, later
		exit    error         // a result on exited, unless nil
		failure []string      // what the failure names; none: no failure
		bound   time.Duration // of the wait
	}{
		{"written while waiting", true, nil, nil, 5 * time.Second},
		{"exited first", false, errors.New("address in use"), []string{"ended before its ready file", "address in use", "the logs"}, 5 * time.Second},
		{"never written", false, nil, []string{"no ready file", "ready.json", "within 100ms", "the logs"}, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "ready.json")
			exited := make(chan error, 1)
			if tt.write {
				time.AfterFunc(50*time.Millisecond, func() { readyfile.Write(path, want) })
			}
			if tt.exit != nil {
				exited <- tt.exit
			}
			var got readyfile.Document
			failed := failure(t, func(tb testing.TB) {
				got = testwait.ReadyFile(tb, path, tt.bound, exited, logs("the logs"))
			})
			if tt.failure == nil {
				if failed != "" || got.Service != want.Service || got.PID != want.PID {
					t.Errorf("ReadyFile() = %+v, failure %q; want %+v", got, failed, want)
				}
				return
			}
			for _, w := range tt.failure {
				if !strings.Contains(failed, w) {
					t.Errorf("failure %q does not name %q", failed, w)
				}
			}
			if tt.exit != nil {
				select {
				case err := <-exited:
					if err != tt.exit {
						t.Errorf("exited holds %v, want %v put back", err, tt.exit)
					}
				default:
					t.Error("the result on exited was not put back")
				}
			}
		})
	}
}
