package logging_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"

	"galaxy/platform/logging"
	"galaxy/platform/logging/logtest"
	"galaxy/platform/tracecontext"
)

func TestNewTagsLinesWithTheTrace(t *testing.T) {
	t.Parallel()
	const caller = "4bf92f3577b34da6a3ce929d0e0e4736"
	var out logtest.Buffer
	logger, err := logging.New(&out, "svc", "info")
	if err != nil {
		t.Fatal(err)
	}
	ctx := tracecontext.Continue(context.Background(),
		propagation.MapCarrier{"traceparent": "00-" + caller + "-00f067aa0ba902b7-01"})
	hop := tracecontext.Traceparent(ctx)[36:52] // this hop's span id, as sent on

	logger.InfoContext(ctx, "in a request")
	logger.With("component", "x").WarnContext(ctx, "from a derived logger")
	logger.InfoContext(context.Background(), "outside any request")
	logger.Info("without a context")

	var lines []map[string]any
	for line := range strings.Lines(out.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		lines = append(lines, rec)
	}
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4: %v", len(lines), lines)
	}
	for _, rec := range lines[:2] {
		if rec[logging.TraceIDKey] != caller || rec[logging.SpanIDKey] != hop || rec["service"] != "svc" {
			t.Errorf("line %v, want service svc, %s %s and %s %s", rec, logging.TraceIDKey, caller, logging.SpanIDKey, hop)
		}
	}
	for _, rec := range lines[2:] {
		_, hasTrace := rec[logging.TraceIDKey]
		_, hasSpan := rec[logging.SpanIDKey]
		if hasTrace || hasSpan {
			t.Errorf("line %v logged outside a request carries a trace", rec)
		}
	}
}

func TestUntracedLeavesNoTraceToSearch(t *testing.T) {
	t.Parallel()
	var out logtest.Buffer
	logger, err := logging.New(&out, "svc", "info")
	if err != nil {
		t.Fatal(err)
	}
	ctx := tracecontext.Continue(context.Background(), propagation.MapCarrier{})
	logger.InfoContext(ctx, "in a request", "kept", "value")
	tp := tracecontext.Traceparent(ctx)

	got := logtest.Untraced(out.String())
	for _, id := range []string{tp[3:35], tp[36:52]} {
		if !strings.Contains(out.String(), id) || strings.Contains(got, id) {
			t.Errorf("Untraced(%s) = %s, want it without %s", out.String(), got, id)
		}
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(got), &rec); err != nil {
		t.Fatalf("Untraced line %q is not JSON: %v", got, err)
	}
	if rec["kept"] != "value" || rec["msg"] != "in a request" || rec["service"] != "svc" {
		t.Errorf("Untraced dropped more than the trace: %s", got)
	}
}
