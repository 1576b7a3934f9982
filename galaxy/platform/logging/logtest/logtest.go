// Package logtest collects what a logger or a process writes, for tests
// that read it while it is being written.
package logtest

import (
	"bytes"
	"regexp"
	"sync"

	"galaxy/platform/logging"
)

// Buffer is a bytes.Buffer safe for concurrent writes and reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// traceAttrs matches the trace attributes of a JSON line, never its first.
var traceAttrs = regexp.MustCompile(`,"(?:` + logging.TraceIDKey + `|` + logging.SpanIDKey + `)":"[0-9a-f]*"`)

// Untraced is logs without their trace_id and span_id attributes, each line
// still JSON: they are random hex in which a short secret, say a login
// code's six digits, can turn up by chance. A test that looks for a secret
// in a log looks in this.
func Untraced(logs string) string { return traceAttrs.ReplaceAllString(logs, "") }
