package apierror_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

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

func TestFromGRPCClassifiesBareStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want apierror.Code
	}{
		{"unavailable", status.Error(codes.Unavailable, "down"), apierror.DependencyUnavailable},
		{"deadline", status.Error(codes.DeadlineExceeded, "slow"), apierror.DependencyUnavailable},
		{"unknown", status.Error(codes.Unknown, "?"), apierror.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := apierror.FromGRPC(tc.err, "authsession").Code; got != tc.want {
				t.Errorf("FromGRPC(%v).Code = %s, want %s", tc.err, got, tc.want)
			}
		})
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
