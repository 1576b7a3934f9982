package userclient_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/userclient"
	"galaxy/platform/apierror"
)

func serve(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func resolve(t *testing.T, url string, timeout time.Duration) (auth.User, error) {
	t.Helper()
	c, err := userclient.New(url, timeout)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c.Resolve(context.Background(), "alice@example.com")
}

func TestResolveRequest(t *testing.T) {
	t.Parallel()
	type request struct{ method, path, contentType, body string }
	got := make(chan request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), string(body)}
		io.WriteString(w, `{"id": "u1", "email": "alice@example.com", "status": "active"}`)
	}))
	defer srv.Close()

	if _, err := resolve(t, srv.URL, time.Second); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	want := request{http.MethodPost, "/v1/users/resolve", "application/json", `{"email":"alice@example.com"}`}
	if r := <-got; r != want {
		t.Errorf("request = %+v, want %+v", r, want)
	}
}

func TestResolveAnswers(t *testing.T) {
	t.Parallel()
	const active = `{"id": "u1", "email": "alice@example.com", "status": "active"}`
	ok := []struct {
		name   string
		status int
		body   string
		want   auth.User
	}{
		{"known", http.StatusOK, active, auth.User{ID: "u1", Email: "alice@example.com", Status: auth.UserActive}},
		{"created", http.StatusCreated, active, auth.User{ID: "u1", Email: "alice@example.com", Status: auth.UserActive}},
		{"disabled", http.StatusOK, `{"id": "u2", "email": "b@example.com", "status": "disabled"}`, auth.User{ID: "u2", Email: "b@example.com", Status: auth.UserDisabled}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := resolve(t, serve(t, tc.status, tc.body), time.Second)
			if err != nil || got != tc.want {
				t.Errorf("Resolve() = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}

	failures := []struct {
		name   string
		status int
		body   string
	}{
		{"no content", http.StatusNoContent, ``},
		{"not found", http.StatusNotFound, `{}`},
		{"server error", http.StatusInternalServerError, active},
		{"empty body", http.StatusOK, ``},
		{"null", http.StatusOK, `null`},
		{"string", http.StatusOK, `"u1"`},
		{"wrong status type", http.StatusOK, `{"id": "u1", "email": "a@example.com", "status": true}`},
		{"missing email", http.StatusOK, `{"id": "u1", "status": "active"}`},
		{"id too long", http.StatusOK, `{"id": "` + strings.Repeat("x", 300) + `", "email": "a@example.com", "status": "active"}`},
		{"huge body", http.StatusOK, `{"id": "u1", "email": "` + strings.Repeat("a", 70000) + `", "status": "active"}`},
		{"stray brace", http.StatusOK, active + `}`},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := resolve(t, serve(t, tc.status, tc.body), time.Second)
			if !apierror.Is(err, apierror.DependencyUnavailable) || apierror.As(err).Metadata["dependency"] != "user" {
				t.Errorf("Resolve() error = %v, want DEPENDENCY_UNAVAILABLE with dependency=user", err)
			}
		})
	}
}

func TestResolveTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release)
	_, err := resolve(t, srv.URL, 100*time.Millisecond)
	if !apierror.Is(err, apierror.DependencyUnavailable) {
		t.Errorf("Resolve() error = %v, want DEPENDENCY_UNAVAILABLE", err)
	}
}

func lookup(t *testing.T, url, id string) (auth.User, error) {
	t.Helper()
	c, err := userclient.New(url, time.Second)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c.User(context.Background(), id)
}

func TestUserRequest(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, id, wantPath string }{
		{"plain", "u1", "/base/v1/users/u1"},
		{"slash", "a/b", "/base/v1/users/a%2Fb"},
		{"dots", "..", "/base/v1/users/%2E%2E"},
		{"space", "a b", "/base/v1/users/a%20b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			type request struct{ method, path string }
			got := make(chan request, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got <- request{r.Method, r.URL.EscapedPath()}
				io.WriteString(w, `{"id": "`+tc.id+`", "email": "a@example.com", "status": "active"}`)
			}))
			defer srv.Close()
			if _, err := lookup(t, srv.URL+"/base", tc.id); err != nil {
				t.Fatalf("User: %v", err)
			}
			if r, want := <-got, (request{http.MethodGet, tc.wantPath}); r != want {
				t.Errorf("request = %+v, want %+v", r, want)
			}
		})
	}
}

func TestUserAnswers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		status  int
		body    string
		want    auth.User
		wantErr func(error) bool
	}{
		{"active", http.StatusOK, `{"id": "u1", "email": "a@example.com", "status": "active", "plan": "pro"}`,
			auth.User{ID: "u1", Email: "a@example.com", Status: auth.UserActive}, nil},
		{"disabled", http.StatusOK, `{"id": "u1", "email": "a@example.com", "status": "disabled"}`,
			auth.User{ID: "u1", Email: "a@example.com", Status: auth.UserDisabled}, nil},
		{"not found", http.StatusNotFound, `{}`, auth.User{}, func(err error) bool { return errors.Is(err, auth.ErrUserNotFound) }},
		{"another user", http.StatusOK, `{"id": "u2", "email": "b@example.com", "status": "active"}`, auth.User{}, userUnavailable},
		{"server error", http.StatusInternalServerError, ``, auth.User{}, userUnavailable},
		{"created is not an answer", http.StatusCreated, `{"id": "u1", "email": "a@example.com", "status": "active"}`, auth.User{}, userUnavailable},
		{"not a user", http.StatusOK, `[]`, auth.User{}, userUnavailable},
		{"unknown status", http.StatusOK, `{"id": "u1", "email": "a@example.com", "status": "gone"}`, auth.User{}, userUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := lookup(t, serve(t, tc.status, tc.body), "u1")
			if tc.wantErr == nil && (err != nil || got != tc.want) {
				t.Errorf("User() = %+v, %v; want %+v", got, err, tc.want)
			}
			if tc.wantErr != nil && !tc.wantErr(err) {
				t.Errorf("User() error = %v", err)
			}
		})
	}
}

func userUnavailable(err error) bool {
	return apierror.Is(err, apierror.DependencyUnavailable) && apierror.As(err).Metadata["dependency"] == "user"
}
