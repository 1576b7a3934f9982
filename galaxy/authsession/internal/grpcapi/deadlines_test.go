package grpcapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/authsession/internal/authtest"
)

func TestCallerDeadlineErrorsKeepTheirMeaning(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"deadline passed", fmt.Errorf("confirm: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{"cancelled", context.Canceled, codes.Canceled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, logs := serve(t, stubService{err: tc.err})
			client := authsessionv1.NewAuthSessionServiceClient(conn)
			_, err := client.ConfirmEmailLogin(context.Background(), &authsessionv1.ConfirmEmailLoginRequest{ChallengeId: "c", Code: "123456"})
			if got := status.Code(err); got != tc.want {
				t.Errorf("code = %v, want %v (%v)", got, tc.want, err)
			}
			wantLogLine(t, logs.String(), "/galaxy.authsession.v1.AuthSessionService/ConfirmEmailLogin", tc.want.String(), "")
		})
	}
}

// TestDependencyNamedWithinTheCallersDeadline: over the wire, a mail
// service slower than the caller's deadline is named by authsession before
// the caller gives up, although AUTHSESSION_UPSTREAM_TIMEOUT is longer.
func TestDependencyNamedWithinTheCallersDeadline(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{UpstreamTimeout: 10 * time.Second})
	env.Mail.Delay(5 * time.Second)
	conn, _ := serve(t, env.Service)
	client := authsessionv1.NewAuthSessionServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()

	_, err := client.StartEmailLogin(ctx, &authsessionv1.StartEmailLoginRequest{Email: "alice@example.com"})

	wantStatus(t, err, codes.Unavailable, "DEPENDENCY_UNAVAILABLE", map[string]string{"dependency": "mail"})
}
