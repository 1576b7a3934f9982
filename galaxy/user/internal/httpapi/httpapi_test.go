package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"galaxy/platform/apierror"
	"galaxy/platform/tracecontext/tracecontexttest"
	"galaxy/user/internal/httpapi"
	"galaxy/user/internal/users"
	"galaxy/user/internal/userstest"
)

func TestResolveCreatesThenAnswers(t *testing.T) {
	t.Parallel()
	a := serve(t, userstest.Options{})
	resp, body := a.resolveEmail(t, "Ada@Example.COM")
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("first resolve = %d %q (%s), want 201 application/json", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	created := decodeExactly(t, body, "id", "email", "status")
	if created["email"] != "ada@example.com" || created["status"] != "active" || !users.ValidID(created["id"].(string)) {
		t.Errorf("created user = %v, want an active user of ada@example.com", created)
	}
	for _, spelling := range []string{"ada@example.com", "ADA@EXAMPLE.COM"} {
		resp, body := a.resolveEmail(t, spelling)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("resolve %q = %d (%s), want 200", spelling, resp.StatusCode, body)
		}
		if known := decodeExactly(t, body, "id", "email", "status"); known["id"] != created["id"] {
			t.Errorf("resolve %q = %v, want the user created first, %v", spelling, known, created)
		}
	}
}

func TestResolveRefusesWhatIsNotOneDocumentedEmail(t *testing.T) {
	t.Parallel()
	a := serve(t, userstest.Options{})
	resolve := a.public + "/v1/users/resolve"
	tests := []struct {
		name string
		req  request
		code apierror.Code
	}{
		{"invalid email", request{method: "POST", url: resolve, body: `{"email": "ada@@example.com"}`}, apierror.InvalidArgument},
		{"invisible character", request{method: "POST", url: resolve, body: `{"email": "ada\u200b@example.com"}`}, apierror.InvalidArgument},
		{"surrounding space", request{method: "POST", url: resolve, body: `{"email": " ada@example.com"}`}, apierror.InvalidArgument},
		{"empty email", request{method: "POST", url: resolve, body: `{"email": ""}`}, apierror.InvalidArgument},
		{"no email", request{method: "POST", url: resolve, body: `{}`}, apierror.InvalidArgument},
		{"unknown field", request{method: "POST", url: resolve, body: `{"email": "ada@example.com", "status": "disabled"}`}, apierror.InvalidArgument},
		{"case variant", request{method: "POST", url: resolve, body: `{"Email": "ada@example.com"}`}, apierror.InvalidArgument},
		{"duplicate key", request{method: "POST", url: resolve, body: `{"email": "ada@example.com", "email": "eve@example.com"}`}, apierror.InvalidArgument},
		{"null", request{method: "POST", url: resolve, body: `{"email": null}`}, apierror.InvalidArgument},
		{"not an object", request{method: "POST", url: resolve, body: `["ada@example.com"]`}, apierror.InvalidArgument},
		{"trailing data", request{method: "POST", url: resolve, body: `{"email": "ada@example.com"} x`}, apierror.InvalidArgument},
		{"invalid UTF-8", request{method: "POST", url: resolve, body: "{\"email\": \"ada\xff@example.com\"}"}, apierror.InvalidArgument},
		{"not JSON", request{method: "POST", url: resolve, body: `email=ada@example.com`, header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}}, apierror.UnsupportedMediaType},
		{"too large", request{method: "POST", url: resolve, body: `{"email": "` + strings.Repeat("a", 70_000) + `@example.com"}`}, apierror.PayloadTooLarge},
		{"wrong method", request{method: "PUT", url: resolve}, apierror.MethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := do(t, tc.req)
			wantProblem(t, resp, body, tc.code)
		})
	}
	if keys := a.env.Redis.Keys(); len(keys) != 0 {
		t.Errorf("keys = %v after refused resolves, want none", keys)
	}
}

func TestGetUser(t *testing.T) {
	t.Parallel()
	a := serve(t, userstest.Options{})
	ada := a.env.Resolve(t, "ada@example.com")
	resp, body := do(t, request{method: "GET", url: a.public + "/v1/users/" + ada.ID})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET = %d (%s), want 200", resp.StatusCode, body)
	}
	got := decodeExactly(t, body, "id", "email", "status")
	if got["id"] != ada.ID || got["email"] != "ada@example.com" || got["status"] != "active" {
		t.Errorf("GET = %v, want %+v", got, ada)
	}
	for _, id := range []string{users.NewID(), "nobody", "usr_" + strings.Repeat("g", 32), "%2E%2E", strings.ToUpper(ada.ID)} {
		resp, body := do(t, request{method: "GET", url: a.public + "/v1/users/" + id})
		wantProblem(t, resp, body, apierror.NotFound)
	}
}

func TestAdminGetShowsTheRevocationState(t *testing.T) {
	t.Parallel()
	a := serve(t, userstest.Options{})
	ada := a.env.Resolve(t, "ada@example.com")
	resp, body := do(t, request{method: "GET", url: a.admin + "/v1/admin/users/" + ada.ID})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin GET = %d (%s), want 200", resp.StatusCode, body)
	}
	got := decodeExactly(t, body, "id", "email", "status", "generation", "created_at", "status_changed_at", "revocation")
	if got["generation"] != float64(1) || got["status"] != "active" {
		t.Errorf("admin GET = %v, want active at generation 1", got)
	}
	if _, err := time.Parse(time.RFC3339, got["created_at"].(string)); err != nil {
		t.Errorf("created_at %v is not RFC 3339: %v", got["created_at"], err)
	}
	if rev := got["revocation"].(map[string]any); len(rev) != 1 || rev["state"] != "none" {
		t.Errorf("revocation = %v, want exactly {state: none}", rev)
	}
}

// TestAdminDisableAnswersOnceSessionsAreRevoked: 200 with the revocation
// done; the user is disabled on the public API too, which is what
// authsession reads on a confirm or a refresh.
func TestAdminDisableAnswersOnceSessionsAreRevoked(t *testing.T) {
	t.Parallel()
	a := serve(t, userstest.Options{})
	ada := a.env.Resolve(t, "ada@example.com")
	a.env.Auth.SetSessions(ada.ID, 2)
	resp, body := do(t, request{method: "POST", url: a.admin + "/v1/admin/users/" + ada.ID + "/disable",
		header: http.Header{"Traceparent": {tracecontexttest.Valid}}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("disable = %d (%s), want 200", resp.StatusCode, body)
	}
	got := decodeExactly(t, body, "id", "email", "status", "generation", "created_at", "status_changed_at", "revocation")
	rev := got["revocation"].(map[string]any)
	if got["status"] != "disabled" || got["generation"] != float64(2) ||
		rev["state"] != "done" || rev["generation"] != float64(2) || rev["revoked_sessions"] != float64(2) || rev["revoked_at"] == nil {
		t.Errorf("disable answered %s, want disabled at generation 2, its revocation done with 2 sessions", body)
	}
	if calls := a.env.Auth.Calls(); len(calls) != 1 || tracecontexttest.Parse(t, calls[0].Traceparent).TraceID != tracecontexttest.TraceID {
		t.Errorf("authsession calls = %+v, want one in the admin request's trace", calls)
	}
	for _, req := range []request{
		{method: "GET", url: a.public + "/v1/users/" + ada.ID},
		{method: "POST", url: a.public + "/v1/users/resolve", body: `{"email": "ada@example.com"}`},
	} {
		resp, body := do(t, req)
		if resp.StatusCode != http.StatusOK || decodeExactly(t, body, "id", "email", "status")["status"] != "disabled" {
			t.Errorf("%s %s = %d %s, want the user, disabled", req.method, req.url, resp.StatusCode, body)
		}
	}
}

// TestAdminDisableWhileAuthsessionIsDown: 202 with the revocation pending;
// the admin GET shows its attempts; enabling is refused (503, authsession)
// until authsession is back and the revocation delivered.
func TestAdminDisableWhileAuthsessionIsDown(t *testing.T) {
	t.Parallel()
	a := serve(t, userstest.Options{Down: true, Wait: 50 * time.Millisecond})
	ada := a.env.Resolve(t, "ada@example.com")
	userURL := a.admin + "/v1/admin/users/" + ada.ID

	resp, body := do(t, request{method: "POST", url: userURL + "/disable"})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("disable = %d (%s), want 202", resp.StatusCode, body)
	}
	rev := decodeExactly(t, body, "id", "email", "status", "generation", "created_at", "status_changed_at", "revocation")["revocation"].(map[string]any)
	if rev["state"] != "pending" || rev["generation"] != float64(2) || rev["next_attempt_at"] == nil {
		t.Errorf("revocation = %v, want pending for generation 2 with its next attempt", rev)
	}
	userstest.Eventually(t, 5*time.Second, "a failed attempt shown", func() bool {
		_, body := do(t, request{method: "GET", url: userURL})
		rev := decodeExactly(t, body, "id", "email", "status", "generation", "created_at", "status_changed_at", "revocation")["revocation"].(map[string]any)
		return rev["attempts"].(float64) >= 1 && strings.Contains(rev["last_error"].(string), "authsession")
	})

	resp, body = do(t, request{method: "POST", url: userURL + "/enable"})
	if p := wantProblem(t, resp, body, apierror.DependencyUnavailable); p.Metadata["dependency"] != "authsession" {
		t.Errorf("enable while pending: %s, want dependency authsession", body)
	}

	a.env.Auth.Up()
	userstest.Eventually(t, 5*time.Second, "the user enabled", func() bool {
		resp, _ := do(t, request{method: "POST", url: userURL + "/enable"})
		return resp.StatusCode == http.StatusOK
	})
	_, body = do(t, request{method: "GET", url: userURL})
	got := decodeExactly(t, body, "id", "email", "status", "generation", "created_at", "status_changed_at", "revocation")
	if got["status"] != "active" || got["generation"] != float64(3) || got["revocation"].(map[string]any)["state"] != "done" {
		t.Errorf("after the enable: %s, want active at generation 3, the revocation done", body)
	}
}

func TestAdminActionsOnUnknownUsersAndWithBodies(t *testing.T) {
	t.Parallel()
	a := serve(t, userstest.Options{})
	ada := a.env.Resolve(t, "ada@example.com")
	for _, req := range []request{
		{method: "GET", url: a.admin + "/v1/admin/users/" + users.NewID()},
		{method: "POST", url: a.admin + "/v1/admin/users/" + users.NewID() + "/disable"},
		{method: "POST", url: a.admin + "/v1/admin/users/nobody/enable"},
	} {
		resp, body := do(t, req)
		wantProblem(t, resp, body, apierror.NotFound)
	}
	resp, body := do(t, request{method: "POST", url: a.admin + "/v1/admin/users/" + ada.ID + "/disable", body: `{"reason": "x"}`})
	wantProblem(t, resp, body, apierror.InvalidArgument)
	if a.env.User(t, ada.ID).Status != users.Active {
		t.Error("a disable refused for its body disabled the user")
	}
	resp, body = do(t, request{method: "GET", url: a.admin + "/v1/admin/users/" + ada.ID + "/disable"})
	wantProblem(t, resp, body, apierror.MethodNotAllowed)
}

// TestEachAPIIsOnItsOwnListener: the admin routes are not served on the
// public listener, nor the public ones on the admin listener.
func TestEachAPIIsOnItsOwnListener(t *testing.T) {
	t.Parallel()
	a := serve(t, userstest.Options{})
	ada := a.env.Resolve(t, "ada@example.com")
	for _, req := range []request{
		{method: "POST", url: a.public + "/v1/admin/users/" + ada.ID + "/disable"},
		{method: "GET", url: a.public + "/v1/admin/users/" + ada.ID},
		{method: "GET", url: a.admin + "/v1/users/" + ada.ID},
		{method: "POST", url: a.admin + "/v1/users/resolve", body: `{"email": "ada@example.com"}`},
	} {
		resp, body := do(t, req)
		wantProblem(t, resp, body, apierror.NotFound)
	}
	if a.env.User(t, ada.ID).Status != users.Active {
		t.Error("the user was disabled through the public listener")
	}
}

func TestProbesAndARedisOutage(t *testing.T) {
	t.Parallel()
	a := serve(t, userstest.Options{})
	ada := a.env.Resolve(t, "ada@example.com")
	for _, base := range []string{a.public, a.admin} {
		for _, path := range []string{"/healthz", "/readyz"} {
			resp, body := do(t, request{method: "GET", url: base + path})
			if resp.StatusCode != http.StatusOK || string(body) != `{"status":"ok"}` {
				t.Errorf("GET %s%s = %d %s, want 200 ok", base, path, resp.StatusCode, body)
			}
		}
	}
	a.env.Redis.Close()
	for _, req := range []request{
		{method: "GET", url: a.public + "/readyz"},
		{method: "GET", url: a.admin + "/readyz"},
		{method: "POST", url: a.public + "/v1/users/resolve", body: `{"email": "eve@example.com"}`},
		{method: "GET", url: a.public + "/v1/users/" + ada.ID},
		{method: "POST", url: a.admin + "/v1/admin/users/" + ada.ID + "/disable"},
	} {
		resp, body := do(t, req)
		if p := wantProblem(t, resp, body, apierror.DependencyUnavailable); p.Metadata["dependency"] != "redis" {
			t.Errorf("%s %s: %s, want dependency redis", req.method, req.url, body)
		}
	}
	if resp, _ := do(t, request{method: "GET", url: a.public + "/healthz"}); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz = %d with Redis down, want 200 (liveness only)", resp.StatusCode)
	}
}

func TestNewChecksItsInputs(t *testing.T) {
	t.Parallel()
	env := userstest.New(t, userstest.Options{})
	logger := slog.New(slog.DiscardHandler)
	ready := func(context.Context) error { return nil }
	for name, call := range map[string]func() error{
		"public, no service": func() error { _, err := httpapi.Public(nil, logger, ready); return err },
		"public, no logger":  func() error { _, err := httpapi.Public(env.Service, nil, ready); return err },
		"admin, no check":    func() error { _, err := httpapi.Admin(env.Service, logger, nil); return err },
	} {
		if err := call(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
