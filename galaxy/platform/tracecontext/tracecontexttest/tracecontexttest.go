// Package tracecontexttest gives tests a caller's traceparent, the ways a
// traceparent can be malformed, and a strict reading of what a hop sends on.
package tracecontexttest

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"galaxy/platform/logging"
)

// A caller's trace: its trace id, its span id and its traceparent (sampled).
const (
	TraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	SpanID  = "00f067aa0ba902b7"
	Valid   = "00-" + TraceID + "-" + SpanID + "-01"
)

// Case is a traceparent header, sent once per value, that no hop may
// continue.
type Case struct {
	Name   string
	Header []string
}

// Malformed lists the ways a traceparent can be unusable. Most are the
// caller's trace with one thing wrong, so a hop that continues one of them
// shows up as TraceID continued.
var Malformed = []Case{
	{"missing", nil},
	{"empty", []string{""}},
	{"version ff", []string{"ff-" + TraceID + "-" + SpanID + "-01"}},
	{"version not hex", []string{"0g-" + TraceID + "-" + SpanID + "-01"}},
	{"version 00 with a fifth field", []string{Valid + "-00"}},
	{"version 00 with reserved flags", []string{"00-" + TraceID + "-" + SpanID + "-04"}},
	{"all-zero trace id", []string{"00-00000000000000000000000000000000-" + SpanID + "-01"}},
	{"all-zero parent id", []string{"00-" + TraceID + "-0000000000000000-01"}},
	{"short trace id", []string{"00-" + TraceID[1:] + "-" + SpanID + "-01"}},
	{"long trace id", []string{"00-" + TraceID + "0-" + SpanID + "-01"}},
	{"short parent id", []string{"00-" + TraceID + "-" + SpanID[1:] + "-01"}},
	{"one-digit flags", []string{"00-" + TraceID + "-" + SpanID + "-1"}},
	{"upper-case trace id", []string{"00-" + strings.ToUpper(TraceID) + "-" + SpanID + "-01"}},
	{"upper-case parent id", []string{"00-" + TraceID + "-" + strings.ToUpper(SpanID) + "-01"}},
	{"upper-case flags", []string{"00-" + TraceID + "-" + SpanID + "-0A"}},
	{"not hex", []string{"00-" + strings.Repeat("z", 32) + "-" + SpanID + "-01"}},
	{"other separators", []string{"00_" + TraceID + "_" + SpanID + "_01"}},
	{"three fields", []string{"00-" + TraceID + "-" + SpanID}},
	{"twice", []string{Valid, Valid}},
}

// Sent is a traceparent as a hop sends it on.
type Sent struct {
	TraceID  string
	ParentID string // the sending hop's span id
	Flags    string
}

// wellFormed is what a hop sends: version 00, lower-case hex ids, two hex
// digits of flags.
var wellFormed = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$`)

// Parse reads tp, failing tb unless it is well formed as a hop sends it,
// with non-zero ids.
func Parse(tb testing.TB, tp string) Sent {
	tb.Helper()
	m := wellFormed.FindStringSubmatch(tp)
	if m == nil || m[1] == strings.Repeat("0", 32) || m[2] == strings.Repeat("0", 16) {
		tb.Fatalf("traceparent %q is not well formed", tp)
		return Sent{}
	}
	return Sent{TraceID: m[1], ParentID: m[2], Flags: m[3]}
}

// LogLines are the JSON lines of logs whose "msg" is msg and whose key is
// value, in order, failing tb on a line that is not JSON.
func LogLines(tb testing.TB, logs, msg, key, value string) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for line := range strings.Lines(logs) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			tb.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if rec["msg"] == msg && rec[key] == value {
			out = append(out, rec)
		}
	}
	return out
}

// OneLogLine is the one line LogLines finds, failing tb on none or several.
func OneLogLine(tb testing.TB, logs, msg, key, value string) map[string]any {
	tb.Helper()
	found := LogLines(tb, logs, msg, key, value)
	if len(found) != 1 {
		tb.Fatalf("%d %q lines with %s %s, want one:\n%s", len(found), msg, key, value, logs)
	}
	return found[0]
}

// WantLoggedHop checks that line was logged in the hop that sent sent on:
// the line's trace id is sent's, and its span id is sent's parent.
func WantLoggedHop(tb testing.TB, line map[string]any, sent Sent) {
	tb.Helper()
	if line[logging.TraceIDKey] != sent.TraceID || line[logging.SpanIDKey] != sent.ParentID {
		tb.Errorf("line %v, want %s %s and %s %s (what the next hop got)",
			line, logging.TraceIDKey, sent.TraceID, logging.SpanIDKey, sent.ParentID)
	}
}
