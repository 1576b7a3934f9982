package grpcserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"galaxy/platform/apierror"
	"galaxy/platform/grpcserver"
	"galaxy/platform/logging"
	"galaxy/platform/logging/logtest"
)

const domain = "test.galaxy"

// records returns the log lines of logs.
func records(t *testing.T, logs *logtest.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// echoMethod is the full name of the test service's one method.
const echoMethod = "/test.Echo/Check"

// serve starts a server from New with the services register registers
// and returns a connection to it and the server's log.
func serve(t *testing.T, register func(*grpc.Server)) (*grpc.ClientConn, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	logger, err := logging.New(logs, "test", "info")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := grpcserver.New(domain, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	register(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, logs
}

// serveEcho serves a one-method service whose handler answers with
// handle, and returns a connection to it.
func serveEcho(t *testing.T, handle func(*healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error)) (*grpc.ClientConn, *logtest.Buffer) {
	t.Helper()
	return serve(t, func(srv *grpc.Server) {
		srv.RegisterService(&grpc.ServiceDesc{
			ServiceName: "test.Echo",
			HandlerType: (*any)(nil),
			Methods: []grpc.MethodDesc{{
				MethodName: "Check",
				Handler: func(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
					in := new(healthpb.HealthCheckRequest)
					if err := dec(in); err != nil {
						return nil, err
					}
					h := func(_ context.Context, req any) (any, error) { return handle(req.(*healthpb.HealthCheckRequest)) }
					return icpt(ctx, in, &grpc.UnaryServerInfo{FullMethod: echoMethod}, h)
				},
			}},
		}, struct{}{})
	})
}

func TestNewChecksItsArguments(t *testing.T) {
	t.Parallel()
	if _, err := grpcserver.New("", slog.Default()); err == nil {
		t.Error("New without a domain succeeded, want an error")
	}
	if _, err := grpcserver.New(domain, nil); err == nil {
		t.Error("New without a logger succeeded, want an error")
	}
}

// TestCalls checks what a caller gets and what is logged for each kind of
// answer: the status with its ErrorInfo, and one "grpc call" line with
// method, code and error_code, the cause logged only when the failure is
// not the caller's.
func TestCalls(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		handle     func(*healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error)
		code       codes.Code
		reason     string // ErrorInfo reason and logged error_code, "" for none
		level      string
		logsCause  bool
		hidesCause string // text of the cause the caller must not see
	}{
		{"ok", func(*healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
			return &healthpb.HealthCheckResponse{}, nil
		}, codes.OK, "", "INFO", false, ""},
		{"domain error", func(*healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
			return nil, apierror.New(apierror.SessionNotFound, "no such session")
		}, codes.NotFound, "SESSION_NOT_FOUND", "INFO", false, ""},
		{"dependency", func(*healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
			return nil, apierror.Dependency("redis", errors.New("dial tcp: refused"))
		}, codes.Unavailable, "DEPENDENCY_UNAVAILABLE", "WARN", true, "dial tcp"},
		{"unknown error", func(*healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
			return nil, errors.New("secret detail")
		}, codes.Internal, "INTERNAL", "ERROR", true, "secret detail"},
		{"panic", func(*healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
			panic("boom")
		}, codes.Internal, "INTERNAL", "ERROR", true, "boom"},
		{"status passes through", func(*healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
			return nil, status.Error(codes.NotFound, "unknown service")
		}, codes.NotFound, "", "INFO", false, ""},
		{"deadline", func(*healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
			return nil, fmt.Errorf("waiting: %w", context.DeadlineExceeded)
		}, codes.DeadlineExceeded, "", "INFO", false, "waiting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, logs := serveEcho(t, tt.handle)
			err := conn.Invoke(t.Context(), echoMethod, &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
			st := status.Convert(err)
			if st.Code() != tt.code {
				t.Fatalf("code = %s, want %s (%v)", st.Code(), tt.code, err)
			}
			if tt.hidesCause != "" && strings.Contains(st.Message(), tt.hidesCause) {
				t.Errorf("message %q leaks the cause %q", st.Message(), tt.hidesCause)
			}
			var info *errdetails.ErrorInfo
			for _, d := range st.Details() {
				if d, ok := d.(*errdetails.ErrorInfo); ok {
					info = d
				}
			}
			switch {
			case tt.reason == "" && info != nil:
				t.Errorf("ErrorInfo = %v, want none", info)
			case tt.reason != "" && (info.GetReason() != tt.reason || info.GetDomain() != domain):
				t.Errorf("ErrorInfo = %v, want reason %s domain %s", info, tt.reason, domain)
			}

			var call map[string]any
			for _, rec := range records(t, logs) {
				if rec["msg"] == "grpc call" {
					if call != nil {
						t.Fatalf("two grpc call lines: %v and %v", call, rec)
					}
					call = rec
				}
			}
			if call == nil {
				t.Fatal("no grpc call line")
			}
			code, _ := call["error_code"].(string)
			_, hasCause := call["error"]
			if call["method"] != echoMethod || call["code"] != tt.code.String() || code != tt.reason ||
				call["level"] != tt.level || hasCause != tt.logsCause {
				t.Errorf("log line = %v, want method %s, code %s, error_code %q, level %s, cause logged %v",
					call, echoMethod, tt.code, tt.reason, tt.level, tt.logsCause)
			}
			if _, ok := call["duration_ms"].(float64); !ok {
				t.Errorf("log line %v has no duration_ms", call)
			}
			if p, _ := call["peer"].(string); !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("log line %v has no caller address (peer)", call)
			}
			// A call sent without traceparent is logged in a trace of its own.
			if id, _ := call[logging.TraceIDKey].(string); !traceID.MatchString(id) {
				t.Errorf("log line %v has no trace id", call)
			}
		})
	}
}

// traceID is a W3C trace id as it is logged.
var traceID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestCallsLogTheCallersTrace checks that every line logged for a call,
// its "grpc call" line and a panic's line alike, carries the trace id of the
// caller's traceparent.
func TestCallsLogTheCallersTrace(t *testing.T) {
	t.Parallel()
	const caller = "4bf92f3577b34da6a3ce929d0e0e4736"
	conn, logs := serveEcho(t, func(*healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) { panic("boom") })
	ctx := metadata.AppendToOutgoingContext(t.Context(), "traceparent", "00-"+caller+"-00f067aa0ba902b7-01")
	_ = conn.Invoke(ctx, echoMethod, &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})

	lines := map[string]map[string]any{}
	for _, rec := range records(t, logs) {
		lines[rec["msg"].(string)] = rec
	}
	for _, msg := range []string{"grpc call", "panic serving call"} {
		rec, ok := lines[msg]
		if !ok {
			t.Fatalf("no %q line in %v", msg, lines)
		}
		if rec[logging.TraceIDKey] != caller {
			t.Errorf("%q line's %s = %v, want the caller's %s", msg, logging.TraceIDKey, rec[logging.TraceIDKey], caller)
		}
		if span, _ := rec[logging.SpanIDKey].(string); span == "" || span == "00f067aa0ba902b7" {
			t.Errorf("%q line's %s = %q, want this hop's own", msg, logging.SpanIDKey, span)
		}
	}
}
