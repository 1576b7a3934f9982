package gateway_test

import (
	"context"
	"errors"
	"slices"
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
	authErr    error                 // the answer of the authsession calls below
	list       []gateway.SessionInfo // ListSessions' answer
	calls      []string              // authsession calls, with their arguments
}

func (s *stubs) Verify(string) (gateway.Claims, error) { return s.claims, s.verifyErr }
func (s *stubs) Session(context.Context, string) (gateway.Session, bool, error) {
	return s.session, s.found, s.sessionErr
}
func (s *stubs) Ping(context.Context) error  { return s.pingErr }
func (s *stubs) Check(context.Context) error { return s.checkErr }
func (s *stubs) StartEmailLogin(_ context.Context, email, clientID string) (gateway.Challenge, error) {
	s.calls = append(s.calls, "start "+email+" "+clientID)
	return gateway.Challenge{ID: "c"}, s.authErr
}
func (s *stubs) ConfirmEmailLogin(_ context.Context, challengeID, _, clientID string) (gateway.Login, error) {
	s.calls = append(s.calls, "confirm "+challengeID+" "+clientID)
	return gateway.Login{SessionID: "s"}, s.authErr
}
func (s *stubs) RefreshSession(_ context.Context, _, clientID string) (gateway.Login, error) {
	s.calls = append(s.calls, "refresh "+clientID)
	return gateway.Login{SessionID: "s"}, s.authErr
}
func (s *stubs) RevokeSession(_ context.Context, userID, sessionID string) error {
	s.calls = append(s.calls, "revoke "+userID+" "+sessionID)
	return s.authErr
}
func (s *stubs) ListSessions(_ context.Context, userID string) ([]gateway.SessionInfo, error) {
	s.calls = append(s.calls, "list "+userID)
	return s.list, s.authErr
}

func newService(t *testing.T, s *stubs, opts ...gateway.Option) *gateway.Service {
	t.Helper()
	opts = append([]gateway.Option{gateway.WithClock(func() time.Time { return now })}, opts...)
	svc, err := gateway.NewService(s, s, s, opts...)
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
	}{
		{"start without email", func(s *gateway.Service) error {
			_, err := s.StartEmailLogin(t.Context(), "", "ip")
			return err
		}},
		{"confirm without challenge", func(s *gateway.Service) error {
			_, err := s.ConfirmEmailLogin(t.Context(), "", "123456", "ip")
			return err
		}},
		{"confirm without code", func(s *gateway.Service) error {
			_, err := s.ConfirmEmailLogin(t.Context(), "c", "", "ip")
			return err
		}},
		{"refresh without token", func(s *gateway.Service) error {
			_, err := s.RefreshSession(t.Context(), "", "ip")
			return err
		}},
		{"revoke without session", func(s *gateway.Service) error {
			return s.RevokeSession(t.Context(), "token", "")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := liveStubs()
			err := tt.call(newService(t, st))
			if !apierror.Is(err, apierror.InvalidArgument) {
				t.Errorf("error = %v, want INVALID_ARGUMENT", err)
			}
			if len(st.calls) != 0 {
				t.Errorf("authsession calls = %q, want none", st.calls)
			}
		})
	}
}

// liveStubs are stubs whose token is user u's, of live session s.
func liveStubs() *stubs {
	return &stubs{
		claims:  gateway.Claims{UserID: "u", SessionID: "s"},
		session: gateway.Session{ID: "s", UserID: "u", Email: "u@example.com", Status: "active", ExpiresAt: now.Add(time.Hour)},
		found:   true,
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
	// The binary's readiness, given by WithReadiness, is what Ready answers.
	draining := func(context.Context) error { return apierror.Dependency("gateway", errors.New("shutting down")) }
	tests := []struct {
		name    string
		stubs   stubs
		opts    []gateway.Option
		wantDep string // "" means ready
	}{
		{"both answer", stubs{}, nil, ""},
		{"redis down", stubs{pingErr: redisDown}, nil, "redis"},
		{"authsession down", stubs{checkErr: authDown}, nil, "authsession"},
		{"both down: redis first", stubs{pingErr: redisDown, checkErr: authDown}, nil, "redis"},
		{"the binary's readiness", stubs{}, []gateway.Option{gateway.WithReadiness(draining)}, "gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := newService(t, &tt.stubs, tt.opts...).Ready(t.Context())
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

// TestAuthenticatedCalls checks Logout, ListSessions and RevokeSession: each
// verifies the token and its session before asking authsession for the
// token's user, and passes authsession's errors through.
func TestAuthenticatedCalls(t *testing.T) {
	t.Parallel()
	type call struct {
		name string
		do   func(*gateway.Service) error
		want string // the authsession call
	}
	calls := []call{
		{"logout", func(s *gateway.Service) error { return s.Logout(t.Context(), "token") }, "revoke u s"},
		{"list", func(s *gateway.Service) error {
			_, err := s.ListSessions(t.Context(), "token")
			return err
		}, "list u"},
		{"revoke other", func(s *gateway.Service) error { return s.RevokeSession(t.Context(), "token", "s2") }, "revoke u s2"},
		{"revoke own", func(s *gateway.Service) error { return s.RevokeSession(t.Context(), "token", "s") }, "revoke u s"},
	}
	notFound := apierror.New(apierror.SessionNotFound, "no such session")
	tests := []struct {
		name      string
		edit      func(*stubs)
		wantCode  apierror.Code // "" means success
		wantCall  bool
		logoutErr apierror.Code // Logout's code when it differs from wantCode
	}{
		{name: "live session", edit: func(*stubs) {}, wantCall: true},
		{name: "bad token", edit: func(s *stubs) { s.verifyErr = gateway.ErrInvalidToken }, wantCode: apierror.Unauthenticated},
		{name: "revoked session", edit: func(s *stubs) { s.session.Status = "revoked" }, wantCode: apierror.Unauthenticated},
		{name: "no session", edit: func(s *stubs) { s.found = false }, wantCode: apierror.Unauthenticated},
		{name: "store down", edit: func(s *stubs) { s.sessionErr = apierror.Dependency("redis", errors.New("down")) }, wantCode: apierror.DependencyUnavailable},
		{name: "authsession down", edit: func(s *stubs) { s.authErr = apierror.Dependency("authsession", errors.New("down")) }, wantCode: apierror.DependencyUnavailable, wantCall: true},
		{
			name: "session not found", edit: func(s *stubs) { s.authErr = notFound },
			wantCode: apierror.SessionNotFound, wantCall: true,
			// The token's own session vanished after the liveness check.
			logoutErr: apierror.Unauthenticated,
		},
	}
	for _, tt := range tests {
		for _, c := range calls {
			t.Run(tt.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				st := liveStubs()
				tt.edit(st)
				err := c.do(newService(t, st))
				want := tt.wantCode
				if c.name == "logout" && tt.logoutErr != "" {
					want = tt.logoutErr
				}
				if want == "" && err != nil {
					t.Errorf("error = %v, want nil", err)
				}
				if got := apierror.As(err).Code; want != "" && got != want {
					t.Errorf("error = %v, want code %s", err, want)
				}
				var wantCalls []string
				if tt.wantCall {
					wantCalls = []string{c.want}
				}
				if !slices.Equal(st.calls, wantCalls) {
					t.Errorf("authsession calls = %q, want %q", st.calls, wantCalls)
				}
			})
		}
	}
}

func TestListSessionsMarksTheCurrentOne(t *testing.T) {
	t.Parallel()
	st := liveStubs()
	st.list = []gateway.SessionInfo{
		{ID: "s3", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		{ID: "s", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)},
		{ID: "s1", CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(time.Hour)},
	}
	got, err := newService(t, st).ListSessions(t.Context(), "token")
	if err != nil {
		t.Fatalf("ListSessions() error = %v", err)
	}
	var ids []string
	for _, s := range got {
		if s.Current != (s.ID == "s") {
			t.Errorf("session %s: current = %v, want %v", s.ID, s.Current, s.ID == "s")
		}
		ids = append(ids, s.ID)
	}
	if want := []string{"s3", "s", "s1"}; !slices.Equal(ids, want) {
		t.Errorf("ListSessions() ids = %q, want authsession's order %q", ids, want)
	}
	st.list = nil
	if got, err := newService(t, st).ListSessions(t.Context(), "token"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("ListSessions() with no sessions = %#v, %v; want an empty, non-nil list", got, err)
	}
}
