package userclient_test

import (
	"context"
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
