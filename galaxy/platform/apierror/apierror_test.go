package apierror_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"galaxy/platform/apierror"
)

func TestTableMatchesContract(t *testing.T) {
	t.Parallel()
	// contracts/errors.md, row by row.
	want := map[apierror.Code]struct {
		http int
		grpc codes.Code
	}{
		apierror.InvalidArgument:       {400, codes.InvalidArgument},
		apierror.InvalidCode:           {400, codes.InvalidArgument},
		apierror.ChallengeNotFound:     {404, codes.NotFound},
		apierror.TooManyAttempts:       {429, codes.ResourceExhausted},
		apierror.UserDisabled:          {403, codes.PermissionDenied},
		apierror.Unauthenticated:       {401, codes.Unauthenticated},
		apierror.InvalidRefreshToken:   {401, codes.Unauthenticated},
		apierror.SessionNotFound:       {404, codes.NotFound},
		apierror.RateLimited:           {429, codes.ResourceExhausted},
		apierror.DependencyUnavailable: {503, codes.Unavailable},
		apierror.NotFound:              {404, codes.NotFound},
		apierror.MethodNotAllowed:      {405, codes.Unimplemented},
		apierror.UnsupportedMediaType:  {415, codes.InvalidArgument},
		apierror.PayloadTooLarge:       {413, codes.InvalidArgument},
		apierror.Internal:              {500, codes.Internal},
	}
	if got := len(apierror.Codes()); got != len(want) {
		t.Fatalf("table has %d codes, contract has %d", got, len(want))
	}
	for code, w := range want {
		if got := apierror.HTTPStatus(code); got != w.http {
			t.Errorf("HTTPStatus(%s) = %d, want %d", code, got, w.http)
		}
		if got := apierror.GRPCCode(code); got != w.grpc {
			t.Errorf("GRPCCode(%s) = %v, want %v", code, got, w.grpc)
		}
	}
}

func TestGRPCRoundTripKeepsCodeAndMetadata(t *testing.T) {
	t.Parallel()
	st := apierror.GRPCStatus(apierror.Dependency("mail", errors.New("connection refused")), "authsession.galaxy")
	if st.Code() != codes.Unavailable {
		t.Fatalf("code = %v, want Unavailable", st.Code())
	}
	info, ok := st.Details()[0].(*errdetails.ErrorInfo)
	if !ok || info.Reason != "DEPENDENCY_UNAVAILABLE" || info.Domain != "authsession.galaxy" || info.Metadata["dependency"] != "mail" {
		t.Fatalf("details = %v, want ErrorInfo DEPENDENCY_UNAVAILABLE/mail", st.Details())
	}
	back := apierror.FromGRPC(st.Err(), "authsession")
	if back.Code != apierror.DependencyUnavailable || back.Metadata["dependency"] != "mail" {
		t.Fatalf("FromGRPC = %+v, want the original code and metadata", back)
	}
}

// TestFromGRPCClassifiesBareStatuses checks that a status a galaxy service
// would never send (no ErrorInfo, or one with a reason outside the table) is
// the dependency's failure whatever its code, never INTERNAL.
func TestFromGRPCClassifiesBareStatuses(t *testing.T) {
	t.Parallel()
	unknownReason, _ := status.New(codes.FailedPrecondition, "new code").WithDetails(
		&errdetails.ErrorInfo{Reason: "SOMETHING_NEW", Domain: "authsession.galaxy"})
	tests := []struct {
		name string
		err  error
	}{
		{"unavailable", status.Error(codes.Unavailable, "connection refused")},
		{"deadline", status.Error(codes.DeadlineExceeded, "slow")},
		{"canceled", status.Error(codes.Canceled, "context canceled")},
		{"unknown with transport text", status.Error(codes.Unknown, "transport: malformed frame")},
		{"internal from RST_STREAM", status.Error(codes.Internal, "stream terminated by RST_STREAM with error code: INTERNAL_ERROR")},
		{"unimplemented", status.Error(codes.Unimplemented, "unknown method")},
		{"reason outside the table", unknownReason.Err()},
		{"not a status", errors.New("dial tcp: connection refused")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := apierror.FromGRPC(tc.err, "authsession")
			if got.Code != apierror.DependencyUnavailable || got.Metadata["dependency"] != "authsession" {
				t.Errorf("FromGRPC(%v) = %s %v, want DEPENDENCY_UNAVAILABLE dependency=authsession", tc.err, got.Code, got.Metadata)
			}
		})
	}
}

func TestDependencies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		names       []string
		wantDep     string
		wantAll     string
		wantMessage string
	}{
		{"one", []string{"redis"}, "redis", "redis", "redis is unavailable"},
		{"two", []string{"redis", "authsession"}, "redis", "redis,authsession", "redis and authsession are unavailable"},
		{"three", []string{"a", "b", "c"}, "a", "a,b,c", "a, b and c are unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := apierror.Dependencies(tc.names, errors.New("cause"))
			if e.Code != apierror.DependencyUnavailable || e.Metadata["dependency"] != tc.wantDep ||
				e.Metadata["dependencies"] != tc.wantAll || e.Message != tc.wantMessage {
				t.Errorf("Dependencies(%q) = %s %q %v, want DEPENDENCY_UNAVAILABLE %q dependency=%s dependencies=%s",
					tc.names, e.Code, e.Message, e.Metadata, tc.wantMessage, tc.wantDep, tc.wantAll)
			}
		})
	}
	if e := apierror.Dependencies(nil, nil); e.Code != apierror.Internal {
		t.Errorf("Dependencies(nil).Code = %s, want INTERNAL", e.Code)
	}
}

func TestUnknownErrorsLeakNothing(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	apierror.WriteHTTP(rec, errors.New("secret database detail"))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p apierror.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Code != apierror.Internal || p.Detail != "internal error" {
		t.Fatalf("problem = %+v, want a generic INTERNAL", p)
	}
}

func TestUnauthenticatedAsksForBearer(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	apierror.WriteHTTP(rec, apierror.New(apierror.Unauthenticated, "token expired"))
	if got := rec.Header().Get("WWW-Authenticate"); got == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
}

func TestRateLimitsCarryRetryAfterOverBothTransports(t *testing.T) {
	t.Parallel()
	err := apierror.Limited(1500*time.Millisecond, "slow down")

	rec := httptest.NewRecorder()
	apierror.WriteHTTP(rec, err)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("HTTP = %d Retry-After %q, want 429 and 2 (rounded up)", rec.Code, rec.Header().Get("Retry-After"))
	}

	st := apierror.GRPCStatus(err, "authsession.galaxy")
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if st.Code() != codes.ResourceExhausted || retry == nil || retry.GetRetryDelay().AsDuration() != 2*time.Second {
		t.Fatalf("gRPC = %v %v, want RESOURCE_EXHAUSTED with RetryInfo 2s", st.Code(), st.Details())
	}
	back := apierror.FromGRPC(st.Err(), "authsession")
	if back.Code != apierror.RateLimited || back.RetryAfter != 2*time.Second {
		t.Fatalf("FromGRPC = %+v, want RATE_LIMITED retrying after 2s", back)
	}
}
