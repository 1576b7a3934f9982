package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"galaxy/platform/apierror"
	"galaxy/user/internal/httpapi"
	"galaxy/user/internal/userstest"
)

func TestMain(m *testing.M) {
	userstest.QuietLibraries()
	os.Exit(m.Run())
}

// api is the user service's two HTTP APIs served on loopback over an Env
// whose deliverer runs.
type api struct {
	env    *userstest.Env
	public string // base URL of the public API
	admin  string // base URL of the admin API
}

func serve(t *testing.T, opts userstest.Options) *api {
	t.Helper()
	env := userstest.New(t, opts)
	userstest.Run(t, env.Deliverer)
	public, err := httpapi.Public(env.Service, env.Logger, env.Store.Ping)
	if err != nil {
		t.Fatalf("Public: %v", err)
	}
	admin, err := httpapi.Admin(env.Service, env.Logger, env.Store.Ping)
	if err != nil {
		t.Fatalf("Admin: %v", err)
	}
	pub, adm := httptest.NewServer(public), httptest.NewServer(admin)
	t.Cleanup(pub.Close)
	t.Cleanup(adm.Close)
	return &api{env: env, public: pub.URL, admin: adm.URL}
}

// request is one HTTP request; body, when not empty, is sent as
// application/json unless header says otherwise.
type request struct {
	method, url, body string
	header            http.Header
}

func do(t *testing.T, req request) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	if req.body != "" {
		body = strings.NewReader(req.body)
	}
	r, err := http.NewRequest(req.method, req.url, body)
	if err != nil {
		t.Fatal(err)
	}
	if req.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range req.header {
		r.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// resolveEmail posts a resolve of email to the public API.
func (a *api) resolveEmail(t *testing.T, email string) (*http.Response, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email})
	return do(t, request{method: "POST", url: a.public + "/v1/users/resolve", body: string(body)})
}

// wantProblem fails unless the answer is a problem document of code.
func wantProblem(t *testing.T, resp *http.Response, body []byte, code apierror.Code) apierror.Problem {
	t.Helper()
	var p apierror.Problem
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q (body %s), want application/problem+json", ct, body)
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem %s: %v", body, err)
	}
	if p.Code != code || resp.StatusCode != apierror.HTTPStatus(code) {
		t.Fatalf("answer = %d %s (%s), want %d %s", resp.StatusCode, p.Code, body, apierror.HTTPStatus(code), code)
	}
	return p
}

// decodeExactly decodes body, a JSON object, failing unless its keys are
// exactly want.
func decodeExactly(t *testing.T, body []byte, want ...string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if len(m) != len(want) {
		t.Fatalf("body %s has %d fields, want exactly %q", body, len(m), want)
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Fatalf("body %s has no %q", body, k)
		}
	}
	return m
}
