package authsessionclient_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"galaxy/gateway/internal/gatewaytest"
	"galaxy/platform/apierror"
)

// TestErrorsPassThrough checks that authsession's stable codes and metadata
// come back unchanged.
func TestErrorsPassThrough(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		err      error
		wantCode apierror.Code
		wantDep  string
	}{
		{"invalid argument", gatewaytest.Fail(apierror.InvalidArgument, "malformed email", nil), apierror.InvalidArgument, ""},
		{"invalid code", gatewaytest.Fail(apierror.InvalidCode, "wrong code", nil), apierror.InvalidCode, ""},
		{"challenge not found", gatewaytest.Fail(apierror.ChallengeNotFound, "no challenge", nil), apierror.ChallengeNotFound, ""},
		{"too many attempts", gatewaytest.Fail(apierror.TooManyAttempts, "burned", nil), apierror.TooManyAttempts, ""},
		{"user disabled", gatewaytest.Fail(apierror.UserDisabled, "disabled", nil), apierror.UserDisabled, ""},
		{"mail down", gatewaytest.Fail(apierror.DependencyUnavailable, "mail is unavailable", map[string]string{"dependency": "mail"}), apierror.DependencyUnavailable, "mail"},
		{"user service down", gatewaytest.Fail(apierror.DependencyUnavailable, "user is unavailable", map[string]string{"dependency": "user"}), apierror.DependencyUnavailable, "user"},
		{"invalid refresh token", gatewaytest.Fail(apierror.InvalidRefreshToken, "unknown", nil), apierror.InvalidRefreshToken, ""},
		{"session not found", gatewaytest.Fail(apierror.SessionNotFound, "no such session", nil), apierror.SessionNotFound, ""},
		{"redis down at authsession", gatewaytest.Fail(apierror.DependencyUnavailable, "redis is unavailable", map[string]string{"dependency": "redis"}), apierror.DependencyUnavailable, "redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := gatewaytest.NewAuthSession()
			fake.FailWith(tt.err)
			c := newClient(t, fake.Serve(t))
			for op, call := range calls(t, c) {
				e := apierror.As(call())
				if e.Code != tt.wantCode || e.Metadata["dependency"] != tt.wantDep {
					t.Errorf("%s() error = %v %v, want %s dependency=%q", op, e, e.Metadata, tt.wantCode, tt.wantDep)
				}
			}
		})
	}
}

// TestErrorTextIsNotKept checks that no text of authsession's, which might
// echo a code or token, survives in an error the gateway logs (INTERNAL and
// DEPENDENCY_UNAVAILABLE) nor as the cause of any error, while codes,
// metadata and retry delays still come through and the caller still gets the
// message of the codes it is told about.
func TestErrorTextIsNotKept(t *testing.T) {
	t.Parallel()
	const secret = "refresh-secret-123456"
	tests := []struct {
		name        string
		err         error
		wantCode    apierror.Code
		wantDep     string
		wantMessage string
	}{
		{"internal", gatewaytest.Fail(apierror.Internal, "bug near "+secret, nil), apierror.Internal, "", "internal error"},
		{"internal without ErrorInfo", status.Error(codes.Internal, "bug near "+secret), apierror.DependencyUnavailable, "authsession", "authsession is unavailable"},
		{"unknown without ErrorInfo", status.Error(codes.Unknown, secret), apierror.DependencyUnavailable, "authsession", "authsession is unavailable"},
		{"invalid argument without ErrorInfo", status.Error(codes.InvalidArgument, secret), apierror.DependencyUnavailable, "authsession", "authsession is unavailable"},
		{"unavailable without ErrorInfo", status.Error(codes.Unavailable, "down near "+secret), apierror.DependencyUnavailable, "authsession", "authsession is unavailable"},
		{"deadline without ErrorInfo", status.Error(codes.DeadlineExceeded, secret), apierror.DependencyUnavailable, "authsession", "authsession is unavailable"},
		{"mail down", gatewaytest.Fail(apierror.DependencyUnavailable, "mail down near "+secret, map[string]string{"dependency": "mail"}), apierror.DependencyUnavailable, "mail", "mail is unavailable"},
		{"dependency name is no name", gatewaytest.Fail(apierror.DependencyUnavailable, "down", map[string]string{"dependency": "mail " + secret}), apierror.DependencyUnavailable, "authsession", "authsession is unavailable"},
		{"invalid code keeps its message for the caller", gatewaytest.Fail(apierror.InvalidCode, "wrong code "+secret, nil), apierror.InvalidCode, "", "wrong code " + secret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := gatewaytest.NewAuthSession()
			fake.FailWith(tt.err)
			c := newClient(t, fake.Serve(t))
			for op, call := range calls(t, c) {
				err := call()
				e := apierror.As(err)
				if e.Code != tt.wantCode || e.Metadata["dependency"] != tt.wantDep || e.Message != tt.wantMessage {
					t.Errorf("%s() error = %v %v, want %s dependency=%q message %q", op, e, e.Metadata, tt.wantCode, tt.wantDep, tt.wantMessage)
				}
				if cause := errors.Unwrap(e); cause != nil && strings.Contains(cause.Error(), secret) {
					t.Errorf("%s() error cause = %q, holds authsession's text", op, cause)
				}
				if apierror.HTTPStatus(e.Code) >= 500 && strings.Contains(err.Error(), secret) {
					t.Errorf("%s() error = %q, holds authsession's text", op, err)
				}
			}
		})
	}
}

// TestRateLimitedKeepsRetryAfter checks that authsession's RATE_LIMITED comes
// back with its RetryInfo delay.
func TestRateLimitedKeepsRetryAfter(t *testing.T) {
	t.Parallel()
	fake := gatewaytest.NewAuthSession()
	fake.FailWith(gatewaytest.FailLimited(42 * time.Second))
	c := newClient(t, fake.Serve(t))
	for op, call := range calls(t, c) {
		e := apierror.As(call())
		if e.Code != apierror.RateLimited || e.RetryAfter != 42*time.Second {
			t.Errorf("%s() error = %v retry after %v, want RATE_LIMITED retry after 42s", op, e, e.RetryAfter)
		}
	}
}
