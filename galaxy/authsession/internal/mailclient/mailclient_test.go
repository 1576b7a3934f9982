package mailclient_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/mailclient"
	"galaxy/platform/apierror"
)

var msg = auth.LoginCodeMessage{
	To:             "alice@example.com",
	Code:           "012345",
	ExpiresAt:      time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC),
	IdempotencyKey: "challenge-1",
}

func newClient(t *testing.T, url string, timeout time.Duration) *mailclient.Client {
	t.Helper()
	c, err := mailclient.New(url, timeout)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func wantMailFailure(t *testing.T, err error) {
	t.Helper()
	if !apierror.Is(err, apierror.DependencyUnavailable) || apierror.As(err).Metadata["dependency"] != "mail" {
		t.Errorf("error = %v, want DEPENDENCY_UNAVAILABLE with dependency=mail", err)
	}
}

func TestSendLoginCodeRequest(t *testing.T) {
	t.Parallel()
	type request struct {
		method, path, contentType, idempotencyKey, body string
	}
	got := make(chan request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Idempotency-Key"), string(body)}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"id": "m1"}`)
	}))
	defer srv.Close()

	c := newClient(t, srv.URL+"/mailer/", time.Second)
	if err := c.SendLoginCode(context.Background(), msg); err != nil {
		t.Fatalf("SendLoginCode: %v", err)
	}
	r := <-got
	want := request{
		method:         http.MethodPost,
		path:           "/mailer/v1/messages",
		contentType:    "application/json",
		idempotencyKey: "challenge-1",
		body:           `{"to":"alice@example.com","template":"login_code","data":{"code":"012345","expires_at":"2026-01-01T00:10:00Z"}}`,
	}
	if r != want {
		t.Errorf("request =\n%+v\nwant\n%+v", r, want)
	}
}

func TestSendLoginCodeAnswers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		body   string
		wantOK bool
	}{
		{"200", http.StatusOK, `{}`, true},
		{"202", http.StatusAccepted, `{"id": "m1"}`, true},
		{"204", http.StatusNoContent, ``, true},
		{"202 with a huge body", http.StatusAccepted, strings.Repeat("x", 1<<20), true},
		{"301", http.StatusMovedPermanently, ``, false},
		{"400", http.StatusBadRequest, `{"error": "bad"}`, false},
		{"429", http.StatusTooManyRequests, ``, false},
		{"500", http.StatusInternalServerError, ``, false},
		{"503", http.StatusServiceUnavailable, ``, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.status == http.StatusMovedPermanently {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			err := newClient(t, srv.URL, time.Second).SendLoginCode(context.Background(), msg)
			if tc.wantOK {
				if err != nil {
					t.Errorf("SendLoginCode() = %v, want nil", err)
				}
				return
			}
			wantMailFailure(t, err)
		})
	}
}

func TestSendLoginCodeTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	start := time.Now()
	err := newClient(t, srv.URL, 100*time.Millisecond).SendLoginCode(context.Background(), msg)
	wantMailFailure(t, err)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("SendLoginCode took %v, want about the 100ms timeout", elapsed)
	}
}

func TestSendLoginCodeConnectionFailures(t *testing.T) {
	t.Parallel()
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		wantMailFailure(t, newClient(t, url, time.Second).SendLoginCode(context.Background(), msg))
	})
	t.Run("dropped", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}))
		defer srv.Close()
		wantMailFailure(t, newClient(t, srv.URL, time.Second).SendLoginCode(context.Background(), msg))
	})
}

func TestNewChecksItsArguments(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		url     string
		timeout time.Duration
	}{
		{"relative URL", "/mail", time.Second},
		{"other scheme", "ftp://mail", time.Second},
		{"no timeout", "http://mail", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := mailclient.New(tc.url, tc.timeout); err == nil {
				t.Error("New succeeded, want an error")
			}
		})
	}
}
