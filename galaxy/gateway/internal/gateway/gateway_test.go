package gateway_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"galaxy/gateway/internal/gateway"
	"galaxy/platform/apierror"
)

var now = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

func TestSessionLiveFor(t *testing.T) {
	t.Parallel()
	live := gateway.Session{ID: "s", UserID: "u", Status: "active", ExpiresAt: now.Add(time.Hour)}
	tests := []struct {
		name string
		edit func(*gateway.Session)
		user string
		want bool
	}{
		{"active, owned, unexpired", func(*gateway.Session) {}, "u", true},
		{"revoked", func(s *gateway.Session) { s.Status = "revoked" }, "u", false},
		{"empty status", func(s *gateway.Session) { s.Status = "" }, "u", false},
		{"other user", func(*gateway.Session) {}, "v", false},
		{"no user on either side", func(s *gateway.Session) { s.UserID = "" }, "", false},
		{"expires now", func(s *gateway.Session) { s.ExpiresAt = now }, "u", false},
		{"expired", func(s *gateway.Session) { s.ExpiresAt = now.Add(-time.Second) }, "u", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := live
			tt.edit(&s)
			if got := s.LiveFor(tt.user, now); got != tt.want {
				t.Errorf("LiveFor(%q) = %v, want %v", tt.user, got, tt.want)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		values  []string
		want    string
		wantErr error
	}{
		{"bearer", []string{"Bearer abc.def.ghi"}, "abc.def.ghi", nil},
		{"scheme in any case", []string{"bEaReR abc"}, "abc", nil},
		{"extra spaces", []string{"  Bearer   abc  "}, "abc", nil},
		{"no header", nil, "", gateway.ErrMissingToken},
		{"empty header", []string{""}, "", gateway.ErrMissingToken},
		{"scheme only", []string{"Bearer"}, "", gateway.ErrInvalidToken},
		{"scheme and space", []string{"Bearer "}, "", gateway.ErrInvalidToken},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, "", gateway.ErrInvalidToken},
		{"no scheme", []string{"abc.def.ghi"}, "", gateway.ErrInvalidToken},
		{"two tokens", []string{"Bearer a b"}, "", gateway.ErrInvalidToken},
		{"two headers", []string{"Bearer a", "Bearer b"}, "", gateway.ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := gateway.BearerToken(tt.values)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("BearerToken(%q) error = %v, want %v", tt.values, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("BearerToken(%q) = %q, want %q", tt.values, got, tt.want)
			}
			if err != nil && !apierror.Is(err, apierror.Unauthenticated) {
				t.Errorf("BearerToken(%q) error code = %s, want UNAUTHENTICATED", tt.values, apierror.As(err).Code)
			}
		})
	}
}

// stubs implements the three adapters with canned answers.
type stubs struct {
	claims     gateway.Claims
	verifyErr  error
	session    gateway.Session
	found      bool
	sessionErr error
	pingErr    error
	checkErr   error
	calls      int // authsession calls
}

func (s *stubs) Verify(string) (gateway.Claims, error) { return s.claims, s.verifyErr }
func (s *stubs) Session(context.Context, string) (gateway.Session, bool, error) {
	return s.session, s.found, s.sessionErr
}
func (s *stubs) Ping(context.Context) error  { return s.pingErr }
func (s *stubs) Check(context.Context) error { return s.checkErr }
func (s *stubs) StartEmailLogin(context.Context, string, string) (gateway.Challenge, error) {
	s.calls++
	return gateway.Challenge{ID: "c"}, nil
}
func (s *stubs) ConfirmEmailLogin(context.Context, string, string, string) (gateway.Login, error) {
	s.calls++
	return gateway.Login{SessionID: "s"}, nil
}

func newService(t *testing.T, s *stubs) *gateway.Service {
	t.Helper()
	svc, err := gateway.NewService(s, s, s, gateway.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	return svc
}

func TestNewServiceChecksItsAdapters(t *testing.T) {
	t.Parallel()
	s := &stubs{}
	tests := []struct {
		name     string
		tokens   gateway.TokenVerifier
		sessions gateway.SessionStore
		auth     gateway.AuthSession
	}{
		{"no verifier", nil, s, s},
		{"no store", s, nil, s},
		{"no authsession", s, s, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := gateway.NewService(tt.tokens, tt.sessions, tt.auth); err == nil {
				t.Errorf("NewService() error = nil, want an error")
			}
		})
	}
}

func TestRequiredFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(*gateway.Service) error
		want int // authsession calls made
	}{
		{"start without email", func(s *gateway.Service) error {
			_, err := s.StartEmailLogin(t.Context(), "", "ip")
			return err
		}, 0},
		{"confirm without challenge", func(s *gateway.Service) error {
			_, err := s.ConfirmEmailLogin(t.Context(), "", "123456", "ip")
			return err
		}, 0},
		{"confirm without code", func(s *gateway.Service) error {
			_, err := s.ConfirmEmailLogin(t.Context(), "c", "", "ip")
			return err
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := &stubs{}
			err := tt.call(newService(t, st))
			if !apierror.Is(err, apierror.InvalidArgument) {
				t.Errorf("error = %v, want INVALID_ARGUMENT", err)
			}
			if st.calls != tt.want {
				t.Errorf("authsession calls = %d, want %d", st.calls, tt.want)
			}
		})
	}
}

func TestMe(t *testing.T) {
	t.Parallel()
	live := gateway.Session{ID: "s", UserID: "u", Email: "u@example.com", Status: "active", ExpiresAt: now.Add(time.Hour)}
	claims := gateway.Claims{UserID: "u", SessionID: "s"}
	redisDown := apierror.Dependency("redis", errors.New("connection refused"))
	tests := []struct {
		name     string
		stubs    stubs
		wantCode apierror.Code // "" means success
	}{
		{"live session", stubs{claims: claims, session: live, found: true}, ""},
		{"bad token", stubs{verifyErr: gateway.ErrInvalidToken}, apierror.Unauthenticated},
		{"no session", stubs{claims: claims}, apierror.Unauthenticated},
		{"revoked session", stubs{claims: claims, session: gateway.Session{UserID: "u", Status: "revoked", ExpiresAt: live.ExpiresAt}, found: true}, apierror.Unauthenticated},
		{"someone else's session", stubs{claims: gateway.Claims{UserID: "v", SessionID: "s"}, session: live, found: true}, apierror.Unauthenticated},
		{"store down", stubs{claims: claims, sessionErr: redisDown}, apierror.DependencyUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := newService(t, &tt.stubs).Me(t.Context(), "token")
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Me() error = %v", err)
				}
				if got != live {
					t.Errorf("Me() = %+v, want %+v", got, live)
				}
				return
			}
			if gotCode := apierror.As(err).Code; gotCode != tt.wantCode {
				t.Errorf("Me() error = %v, want code %s", err, tt.wantCode)
			}
		})
	}
}

func TestReady(t *testing.T) {
	t.Parallel()
	redisDown := apierror.Dependency("redis", errors.New("down"))
	authDown := apierror.Dependency("authsession", errors.New("down"))
	tests := []struct {
		name    string
		stubs   stubs
		wantDep string // "" means ready
	}{
		{"both answer", stubs{}, ""},
		{"redis down", stubs{pingErr: redisDown}, "redis"},
		{"authsession down", stubs{checkErr: authDown}, "authsession"},
		{"both down: redis first", stubs{pingErr: redisDown, checkErr: authDown}, "redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := newService(t, &tt.stubs).Ready(t.Context())
			if tt.wantDep == "" {
				if err != nil {
					t.Errorf("Ready() error = %v, want nil", err)
				}
				return
			}
			if got := apierror.As(err).Metadata["dependency"]; got != tt.wantDep {
				t.Errorf("Ready() error = %v, want dependency %q", err, tt.wantDep)
			}
		})
	}
}
