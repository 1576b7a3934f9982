package httpapi_test

import (
	"context"
	"testing"
	"time"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/gateway/internal/gatewaytest"
	"galaxy/platform/apierror"
)

// TestDependencyFailures checks that a dead or slow dependency is a 503 naming
// it, within the dependency's deadline.
func TestDependencyFailures(t *testing.T) {
	t.Parallel()
	blockForever := func(st *gatewaytest.Stack) {
		st.Auth.OnStart(func(ctx context.Context, _ *authsessionv1.StartEmailLoginRequest) (*authsessionv1.StartEmailLoginResponse, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
	}
	tests := []struct {
		name    string
		opts    func(t *testing.T) []gatewaytest.StackOption
		setup   func(st *gatewaytest.Stack)
		req     func(t *testing.T, st *gatewaytest.Stack) request
		wantDep string
		within  time.Duration
	}{
		{
			name: "authsession unreachable",
			opts: func(t *testing.T) []gatewaytest.StackOption {
				return []gatewaytest.StackOption{gatewaytest.WithAuthAddr(gatewaytest.DeadAddr(t))}
			},
			req: func(*testing.T, *gatewaytest.Stack) request {
				return request{method: "POST", path: "/v1/auth/email/start", body: `{"email": "a@b.c"}`}
			},
			wantDep: "authsession", within: gatewaytest.AuthTimeout,
		},
		{
			name:  "authsession too slow",
			setup: blockForever,
			req: func(*testing.T, *gatewaytest.Stack) request {
				return request{method: "POST", path: "/v1/auth/email/start", body: `{"email": "a@b.c"}`}
			},
			wantDep: "authsession", within: gatewaytest.AuthTimeout + time.Second,
		},
		{
			name: "redis down",
			opts: func(t *testing.T) []gatewaytest.StackOption {
				return []gatewaytest.StackOption{gatewaytest.WithRedisAddr(gatewaytest.DeadAddr(t))}
			},
			req: func(t *testing.T, st *gatewaytest.Stack) request {
				token := st.Key.Sign(t, gatewaytest.AccessClaims("user-1", "sess-1", time.Now()))
				return request{method: "GET", path: "/v1/me", header: bearer(token)}
			},
			wantDep: "redis", within: gatewaytest.RedisTimeout + time.Second,
		},
		{
			name: "readyz with redis down",
			opts: func(t *testing.T) []gatewaytest.StackOption {
				return []gatewaytest.StackOption{gatewaytest.WithRedisAddr(gatewaytest.DeadAddr(t))}
			},
			req:     func(*testing.T, *gatewaytest.Stack) request { return request{method: "GET", path: "/readyz"} },
			wantDep: "redis", within: gatewaytest.RedisTimeout + time.Second,
		},
		{
			name: "readyz with authsession down",
			opts: func(t *testing.T) []gatewaytest.StackOption {
				return []gatewaytest.StackOption{gatewaytest.WithAuthAddr(gatewaytest.DeadAddr(t))}
			},
			req:     func(*testing.T, *gatewaytest.Stack) request { return request{method: "GET", path: "/readyz"} },
			wantDep: "authsession", within: gatewaytest.AuthTimeout + time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []gatewaytest.StackOption
			if tt.opts != nil {
				opts = tt.opts(t)
			}
			st, a := newStack(t, opts...)
			if tt.setup != nil {
				tt.setup(st)
			}
			req := tt.req(t, st)
			start := time.Now()
			resp, body := a.do(t, req)
			if elapsed := time.Since(start); elapsed > tt.within {
				t.Errorf("answered after %v, want within %v", elapsed, tt.within)
			}
			p := wantProblem(t, resp, body, apierror.DependencyUnavailable)
			if got := p.Metadata["dependency"]; got != tt.wantDep {
				t.Errorf("metadata.dependency = %q, want %q", got, tt.wantDep)
			}
		})
	}
}
