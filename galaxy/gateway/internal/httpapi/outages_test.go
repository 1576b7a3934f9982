package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"galaxy/gateway/internal/gatewaytest"
	"galaxy/platform/apierror"
)

// TestOutagesAre503 checks that every failure of Redis or authsession is a
// 503 DEPENDENCY_UNAVAILABLE naming it, within its deadline: an
// authenticated call never succeeds when its session cannot be read, and
// no outage is a 500.
func TestOutagesAre503(t *testing.T) {
	t.Parallel()
	for _, o := range gatewaytest.Outages() {
		t.Run(o.Name, func(t *testing.T) {
			t.Parallel()
			st, token := o.NewStack(t)
			a := serve(t, st.Service)
			reqs := map[string]request{
				"GET /v1/me":       {method: "GET", path: "/v1/me", header: bearer(token)},
				"GET /v1/sessions": {method: "GET", path: "/v1/sessions", header: bearer(token)},
			}
			if o.Dependency == "authsession" {
				reqs["POST /v1/auth/email/start"] = request{method: "POST", path: "/v1/auth/email/start", body: `{"email": "a@example.com"}`}
				delete(reqs, "GET /v1/me") // needs Redis only
			}
			for name, req := range reqs {
				start := time.Now()
				resp, body := a.do(t, req)
				if elapsed := time.Since(start); elapsed > o.Within() {
					t.Errorf("%s answered after %v, want within %v", name, elapsed, o.Within())
				}
				if resp.StatusCode != http.StatusServiceUnavailable {
					t.Errorf("%s = %d %s, want 503", name, resp.StatusCode, body)
					continue
				}
				if p := wantProblem(t, resp, body, apierror.DependencyUnavailable); p.Metadata["dependency"] != o.Dependency {
					t.Errorf("%s: metadata.dependency = %q, want %q", name, p.Metadata["dependency"], o.Dependency)
				}
			}
		})
	}
}
