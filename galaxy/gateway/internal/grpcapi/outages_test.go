package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"galaxy/gateway/api/gatewayv1"
	"galaxy/gateway/internal/gatewaytest"
	"galaxy/platform/apierror"
)

// TestOutagesAreUnavailable checks that every failure of Redis or
// authsession is UNAVAILABLE with an ErrorInfo (DEPENDENCY_UNAVAILABLE)
// naming it, within its deadline: an authenticated call never succeeds when
// its session cannot be read, and no outage is INTERNAL or UNKNOWN.
func TestOutagesAreUnavailable(t *testing.T) {
	t.Parallel()
	for _, o := range gatewaytest.Outages() {
		t.Run(o.Name, func(t *testing.T) {
			t.Parallel()
			st, token := o.NewStack(t)
			c := serve(t, st.Service)
			ctx := withToken(t.Context(), token)
			calls := map[string]func(context.Context) error{
				"GetMe": func(ctx context.Context) error {
					_, err := c.client.GetMe(ctx, &gatewayv1.GetMeRequest{})
					return err
				},
				"ListSessions": func(ctx context.Context) error {
					_, err := c.client.ListSessions(ctx, &gatewayv1.ListSessionsRequest{})
					return err
				},
			}
			if o.Dependency == "authsession" {
				calls["StartEmailLogin"] = func(ctx context.Context) error {
					_, err := c.client.StartEmailLogin(ctx, &gatewayv1.StartEmailLoginRequest{Email: "a@example.com"})
					return err
				}
				delete(calls, "GetMe") // needs Redis only
			}
			for name, call := range calls {
				start := time.Now()
				err := call(ctx)
				if elapsed := time.Since(start); elapsed > o.Within() {
					t.Errorf("%s answered after %v, want within %v", name, elapsed, o.Within())
				}
				if err == nil {
					t.Errorf("%s succeeded, want UNAVAILABLE", name)
					continue
				}
				if info := wantStatus(t, err, apierror.DependencyUnavailable); info.GetMetadata()["dependency"] != o.Dependency {
					t.Errorf("%s: ErrorInfo dependency = %q, want %q", name, info.GetMetadata()["dependency"], o.Dependency)
				}
			}
		})
	}
}
