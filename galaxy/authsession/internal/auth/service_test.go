package auth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/authtest"
	"galaxy/platform/apierror"
)

func TestNewServiceChecksOptions(t *testing.T) {
	t.Parallel()
	_, err := auth.NewService(auth.Options{})
	if err == nil {
		t.Fatal("NewService(zero options) succeeded, want an error")
	}
	for _, want := range []string{"store", "limiter", "mailer", "user service", "token issuer", "code secret", "lifetimes", "attempt", "cooldown", "start limit"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestStartEmailLogin(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	before := time.Now().Truncate(time.Second)

	res, err := env.Service.StartEmailLogin(context.Background(), "Alice@Example.COM", "203.0.113.7")
	if err != nil {
		t.Fatalf("StartEmailLogin: %v", err)
	}

	raw, err := base64.RawURLEncoding.DecodeString(res.ChallengeID)
	if err != nil || len(raw) != 16 {
		t.Errorf("challenge id %q: want 16 bytes of base64url without padding (err %v)", res.ChallengeID, err)
	}
	if got, want := res.ExpiresAt.Sub(before), env.Options.CodeTTL; got < want || got > want+2*time.Second {
		t.Errorf("expires in %v, want about %v", got, want)
	}

	msgs := env.Mail.Messages()
	if len(msgs) != 1 {
		t.Fatalf("mail messages = %d, want 1", len(msgs))
	}
	m := msgs[0]
	checks := []struct{ name, got, want string }{
		{"to", m.To, "alice@example.com"},
		{"template", m.Template, "login_code"},
		{"Idempotency-Key", m.IdempotencyKey, res.ChallengeID},
		{"Content-Type", m.ContentType, "application/json"},
		{"data.expires_at", m.Data.ExpiresAt, res.ExpiresAt.UTC().Format(time.RFC3339)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("mail %s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if len(m.Data.Code) != auth.CodeLength {
		t.Errorf("mailed code %q, want %d digits", m.Data.Code, auth.CodeLength)
	}

	key := env.Store.ChallengeKey(res.ChallengeID)
	fields := map[string]string{
		"email":     "alice@example.com",
		"attempts":  "0",
		"client_id": "203.0.113.7",
	}
	for f, want := range fields {
		if got := env.Redis.HGet(key, f); got != want {
			t.Errorf("challenge %s = %q, want %q", f, got, want)
		}
	}
	created, err := strconv.ParseInt(env.Redis.HGet(key, "created_at"), 10, 64)
	if err != nil || created < before.Unix() || created > time.Now().Unix() {
		t.Errorf("challenge created_at = %q, want unix seconds of now", env.Redis.HGet(key, "created_at"))
	}
	if got := env.Redis.HGet(key, "code_hash"); len(got) != 64 {
		t.Errorf("challenge code_hash = %q, want 64 hex characters", got)
	}
	if got, want := env.Redis.TTL(key), env.Options.CodeTTL; got <= want-3*time.Second || got > want {
		t.Errorf("challenge TTL = %v, want about %v", got, want)
	}
	if got := env.Users.Calls(); got != 0 {
		t.Errorf("user service calls = %d, want 0 (users are resolved at confirm)", got)
	}
}

func TestStartEmailLoginStoresOnlyTheCodeHash(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	id, code := startLogin(t, env, "alice@example.com")

	for key, values := range redisDump(t, env) {
		for _, v := range append(values, key) {
			if strings.Contains(v, code) {
				t.Errorf("%s holds the code %s in %q", key, code, v)
			}
		}
	}
	if env.Redis.HGet(env.Store.ChallengeKey(id), "code_hash") == "" {
		t.Error("challenge has no code_hash")
	}
}

func TestStartEmailLoginAnswersAlikeForKnownAndUnknownEmails(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	env.Users.Put(auth.User{ID: "u-known", Email: "known@example.com", Status: auth.UserActive})
	env.Users.Put(auth.User{ID: "u-off", Email: "off@example.com", Status: auth.UserDisabled})

	for _, email := range []string{"known@example.com", "off@example.com", "stranger@example.com"} {
		res, err := env.Service.StartEmailLogin(context.Background(), email, "")
		if err != nil {
			t.Errorf("StartEmailLogin(%q): %v", email, err)
			continue
		}
		if len(res.ChallengeID) != 22 {
			t.Errorf("StartEmailLogin(%q) challenge id %q, want 22 characters", email, res.ChallengeID)
		}
	}
	if got := len(env.Mail.Messages()); got != 3 {
		t.Errorf("mail messages = %d, want 3", got)
	}
	if got := env.Users.Calls(); got != 0 {
		t.Errorf("user service calls = %d, want 0", got)
	}
}

func TestStartEmailLoginRejectsBadInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, email, clientID string
	}{
		{"empty email", "", ""},
		{"malformed email", "not-an-email", ""},
		{"display name", "Alice <alice@example.com>", ""},
		{"long client id", "alice@example.com", strings.Repeat("x", 257)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := authtest.New(t, authtest.Options{})
			_, err := env.Service.StartEmailLogin(context.Background(), tc.email, tc.clientID)
			wantCode(t, err, apierror.InvalidArgument)
			if got := len(env.Mail.Messages()); got != 0 {
				t.Errorf("mail messages = %d, want 0", got)
			}
			if got := env.Redis.Keys(); len(got) != 0 {
				t.Errorf("redis keys = %v, want none", got)
			}
		})
	}
}

func TestStartEmailLoginMailFailureForgetsTheChallenge(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(*authtest.Mail)
	}{
		{"server error", func(m *authtest.Mail) { m.Fail(http.StatusInternalServerError) }},
		{"bad request", func(m *authtest.Mail) { m.Fail(http.StatusBadRequest) }},
		{"redirect", func(m *authtest.Mail) { m.Fail(http.StatusFound) }},
		{"timeout", func(m *authtest.Mail) { m.Delay(2 * time.Second) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := authtest.New(t, authtest.Options{UpstreamTimeout: 200 * time.Millisecond})
			tc.setup(env.Mail)
			_, err := env.Service.StartEmailLogin(context.Background(), "alice@example.com", "")
			wantDependency(t, err, "mail")
			if got := stateKeys(env); len(got) != 0 {
				t.Errorf("redis keys after a failed mail = %v, want only abuse counters", got)
			}

			// The resend cooldown was released: a retry goes through at once.
			env.Mail.Fail(http.StatusAccepted)
			env.Mail.Delay(0)
			startLogin(t, env, "alice@example.com")
		})
	}
}

func TestStartEmailLoginMailFailureGivesBackTheStartLimits(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{Limits: auth.Limits{StartsPerEmail: 1, StartsPerClient: 1}})

	// A flaky mail service uses up no start of the email or the client.
	env.Mail.Fail(http.StatusServiceUnavailable)
	for i := range 3 {
		_, err := env.Service.StartEmailLogin(context.Background(), "alice@example.com", "203.0.113.7")
		if !apierror.Is(err, apierror.DependencyUnavailable) {
			t.Fatalf("start #%d with the mail service down: %v, want DEPENDENCY_UNAVAILABLE", i+1, err)
		}
	}
	env.Mail.Fail(http.StatusAccepted)
	startLogin(t, env, "alice@example.com")

	// The one start each limit allows is now used.
	env.Redis.FastForward(env.Options.Limits.ResendCooldown)
	_, err := env.Service.StartEmailLogin(context.Background(), "alice@example.com", "198.51.100.9")
	wantCode(t, err, apierror.RateLimited)
	_, err = env.Service.StartEmailLogin(context.Background(), "bob@example.com", "203.0.113.7")
	wantCode(t, err, apierror.RateLimited)
}

func TestStartEmailLoginRedisFailure(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	env.Redis.SetError("LOADING Redis is loading the dataset in memory")
	_, err := env.Service.StartEmailLogin(context.Background(), "alice@example.com", "")
	wantDependency(t, err, "redis")
	if got := len(env.Mail.Messages()); got != 0 {
		t.Errorf("mail messages = %d, want 0 (nothing is mailed without a stored challenge)", got)
	}
}

func TestConfirmEmailLogin(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	id, code := startLogin(t, env, "Alice@Example.com")
	before := time.Now().Truncate(time.Second)

	res := confirm(t, env, id, code)

	s := res.Session
	if s.UserID != "user-1" || s.Email != "alice@example.com" {
		t.Errorf("session user, email = %q, %q; want %q, %q", s.UserID, s.Email, "user-1", "alice@example.com")
	}
	if raw, err := base64.RawURLEncoding.DecodeString(s.ID); err != nil || len(raw) != 16 {
		t.Errorf("session id %q: want 16 bytes of base64url without padding", s.ID)
	}
	if s.CreatedAt.Before(before) || s.ExpiresAt.Sub(s.CreatedAt) != env.Options.SessionTTL {
		t.Errorf("session created %v expires %v, want now and now+%v", s.CreatedAt, s.ExpiresAt, env.Options.SessionTTL)
	}
	tok := res.Tokens
	if tok.AccessToken == "" || strings.Count(tok.AccessToken, ".") != 2 {
		t.Errorf("access token %q, want a compact JWS", tok.AccessToken)
	}
	if got := tok.AccessTokenExpiresAt.Sub(s.CreatedAt); got != env.Options.AccessTokenTTL {
		t.Errorf("access token lives %v, want %v", got, env.Options.AccessTokenTTL)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(tok.RefreshToken); err != nil || len(raw) != 32 {
		t.Errorf("refresh token %q: want 32 bytes of base64url without padding", tok.RefreshToken)
	}
	if !tok.RefreshTokenExpiresAt.Equal(s.ExpiresAt) {
		t.Errorf("refresh token expires %v, want the session's %v", tok.RefreshTokenExpiresAt, s.ExpiresAt)
	}

	// The consumed challenge stays for the retry window as a tombstone
	// naming the session, without the client id.
	challengeKey := env.Store.ChallengeKey(id)
	if got := env.Redis.HGet(challengeKey, "session_id"); got != s.ID {
		t.Errorf("tombstone session_id = %q, want %q", got, s.ID)
	}
	if got := env.Redis.HGet(challengeKey, "client_id"); got != "" {
		t.Errorf("tombstone client_id = %q, want none", got)
	}
	if got := env.Redis.TTL(challengeKey); got <= 0 || got > env.Options.RetryGrace {
		t.Errorf("tombstone TTL = %v, want up to the retry window %v", got, env.Options.RetryGrace)
	}
	refreshKey := env.Store.RefreshKey(auth.HashRefreshToken(tok.RefreshToken))
	if got, err := env.Redis.Get(refreshKey); err != nil || got != s.ID {
		t.Errorf("GET %s = %q, %v; want %q", refreshKey, got, err, s.ID)
	}
	if got := env.Redis.TTL(refreshKey); got <= 0 || got > env.Options.SessionTTL {
		t.Errorf("refresh key TTL = %v, want up to %v", got, env.Options.SessionTTL)
	}
	userKey := env.Store.UserSessionsKey(s.UserID)
	if ok, err := env.Redis.SIsMember(userKey, s.ID); err != nil || !ok {
		t.Errorf("SISMEMBER %s %s = %v, %v; want true", userKey, s.ID, ok, err)
	}
	for key, values := range redisDump(t, env) {
		for _, v := range append(values, key) {
			if strings.Contains(v, tok.RefreshToken) || strings.Contains(v, tok.AccessToken) {
				t.Errorf("%s holds a token in %q", key, v)
			}
		}
	}

	// A second login of the same user, after the resend cooldown, opens a
	// second session.
	env.Redis.FastForward(env.Options.Limits.ResendCooldown)
	id2, code2 := startLogin(t, env, "alice@example.com")
	res2 := confirm(t, env, id2, code2)
	if res2.Session.UserID != s.UserID || res2.Session.ID == s.ID {
		t.Errorf("second session %+v, want a new session of %q", res2.Session, s.UserID)
	}
	if got, _ := env.Redis.Members(userKey); len(got) != 2 {
		t.Errorf("user sessions = %v, want 2", got)
	}
}

func TestConfirmEmailLoginRejectsMalformedInput(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{CodeMaxAttempts: 1})
	id, code := startLogin(t, env, "alice@example.com")

	cases := []struct {
		name, challengeID, code, clientID string
	}{
		{"empty challenge id", "", code, ""},
		{"empty code", id, "", ""},
		{"short code", id, code[:5], ""},
		{"long code", id, code + "0", ""},
		{"letters", id, "12a456", ""},
		{"padded code", id, " " + code[:5], ""},
		{"non-ASCII digits", id, "１２３４５６", ""},
		{"long client id", id, code, strings.Repeat("x", 257)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.Service.ConfirmEmailLogin(context.Background(), tc.challengeID, tc.code, tc.clientID)
			wantCode(t, err, apierror.InvalidArgument)
		})
	}
	// None of that counted as an attempt, although only one is allowed.
	if got := env.Redis.HGet(env.Store.ChallengeKey(id), "attempts"); got != "0" {
		t.Errorf("attempts = %q, want 0", got)
	}
	confirm(t, env, id, code)
}

func TestConfirmEmailLoginUnknownChallenge(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	cases := []struct{ name, id string }{
		{"never issued", "AAAAAAAAAAAAAAAAAAAAAA"},
		{"malformed", "no-such-challenge"},
		{"too long", strings.Repeat("A", 1000)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := env.Service.ConfirmEmailLogin(context.Background(), tc.id, "123456", "")
			wantCode(t, err, apierror.ChallengeNotFound)
		})
	}
}

func TestConfirmEmailLoginWrongCodes(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{CodeMaxAttempts: 3})
	id, code := startLogin(t, env, "alice@example.com")
	key := env.Store.ChallengeKey(id)
	bad := wrongCode(t, code)

	steps := []struct {
		want         apierror.Code
		wantAttempts string
	}{
		{apierror.InvalidCode, "1"},
		{apierror.InvalidCode, "2"},
		{apierror.TooManyAttempts, ""},
		{apierror.ChallengeNotFound, ""},
	}
	for i, step := range steps {
		_, err := env.Service.ConfirmEmailLogin(context.Background(), id, bad, "")
		if !apierror.Is(err, step.want) {
			t.Fatalf("wrong code #%d: error = %v, want %s", i+1, err, step.want)
		}
		if got := env.Redis.HGet(key, "attempts"); got != step.wantAttempts {
			t.Errorf("after wrong code #%d: attempts = %q, want %q", i+1, got, step.wantAttempts)
		}
	}
	if env.Redis.Exists(key) {
		t.Error("challenge survives its last attempt")
	}
	_, err := env.Service.ConfirmEmailLogin(context.Background(), id, code, "")
	wantCode(t, err, apierror.ChallengeNotFound)
	if got := env.Users.Calls(); got != 0 {
		t.Errorf("user service calls = %d, want 0", got)
	}
}

func TestConfirmEmailLoginRightCodeAfterWrongOnes(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{CodeMaxAttempts: 3})
	id, code := startLogin(t, env, "alice@example.com")
	for range 2 {
		_, err := env.Service.ConfirmEmailLogin(context.Background(), id, wrongCode(t, code), "")
		wantCode(t, err, apierror.InvalidCode)
	}
	confirm(t, env, id, code)
}

func TestConfirmEmailLoginIsSingleUseWhenStrict(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{NoRetries: true})
	id, code := startLogin(t, env, "alice@example.com")
	confirm(t, env, id, code)
	if env.Redis.Exists(env.Store.ChallengeKey(id)) {
		t.Error("challenge still exists after a successful confirm without a retry window")
	}
	_, err := env.Service.ConfirmEmailLogin(context.Background(), id, code, "")
	wantCode(t, err, apierror.ChallengeNotFound)
	if got := len(sessionKeys(env)); got != 1 {
		t.Errorf("sessions = %d, want 1", got)
	}
}

func TestConfirmEmailLoginExpiry(t *testing.T) {
	t.Parallel()
	t.Run("redis expires the challenge", func(t *testing.T) {
		t.Parallel()
		env := authtest.New(t, authtest.Options{})
		id, code := startLogin(t, env, "alice@example.com")
		env.Redis.FastForward(env.Options.CodeTTL)
		_, err := env.Service.ConfirmEmailLogin(context.Background(), id, code, "")
		wantCode(t, err, apierror.ChallengeNotFound)
	})
	t.Run("just before expiry", func(t *testing.T) {
		t.Parallel()
		env := authtest.New(t, authtest.Options{})
		id, code := startLogin(t, env, "alice@example.com")
		env.Redis.FastForward(env.Options.CodeTTL - 3*time.Second)
		confirm(t, env, id, code)
	})
}

func TestConfirmEmailLoginUserFailureKeepsTheChallenge(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		body   string
	}{
		{"server error", http.StatusInternalServerError, `{"error": "boom"}`},
		{"not found", http.StatusNotFound, ``},
		{"accepted is not an answer", http.StatusAccepted, `{"id": "u1", "email": "alice@example.com", "status": "active"}`},
		{"not JSON", http.StatusOK, `<html>oops</html>`},
		{"array", http.StatusOK, `[]`},
		{"missing id", http.StatusOK, `{"email": "alice@example.com", "status": "active"}`},
		{"empty id", http.StatusOK, `{"id": "", "email": "alice@example.com", "status": "active"}`},
		{"numeric id", http.StatusOK, `{"id": 7, "email": "alice@example.com", "status": "active"}`},
		{"missing status", http.StatusOK, `{"id": "u1", "email": "alice@example.com"}`},
		{"unknown status", http.StatusOK, `{"id": "u1", "email": "alice@example.com", "status": "pending"}`},
		{"trailing data", http.StatusOK, `{"id": "u1", "email": "alice@example.com", "status": "active"} {}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// One attempt only: the failed one is given back.
			env := authtest.New(t, authtest.Options{CodeMaxAttempts: 1})
			id, code := startLogin(t, env, "alice@example.com")
			env.Users.Answer(tc.status, tc.body)

			for range 2 {
				_, err := env.Service.ConfirmEmailLogin(context.Background(), id, code, "")
				wantDependency(t, err, "user")
			}
			if !env.Redis.Exists(env.Store.ChallengeKey(id)) {
				t.Fatal("challenge was consumed by a failed user lookup")
			}
			if got := env.Redis.HGet(env.Store.ChallengeKey(id), "attempts"); got != "0" {
				t.Errorf("attempts = %q, want 0", got)
			}
			if got := sessionKeys(env); len(got) != 0 {
				t.Errorf("sessions = %v, want none", got)
			}

			env.Users.Answer(0, "")
			confirm(t, env, id, code) // the user may retry
		})
	}
}

func TestConfirmEmailLoginIgnoresUnknownUserFields(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	id, code := startLogin(t, env, "alice@example.com")
	env.Users.Answer(http.StatusOK, `{"id": "u1", "email": "alice@example.com", "status": "active", "plan": "pro"}`)

	got, err := env.Service.ConfirmEmailLogin(context.Background(), id, code, "")
	if err != nil {
		t.Fatalf("ConfirmEmailLogin() error = %v, want a session (unknown fields are allowed)", err)
	}
	if got.Session.UserID != "u1" {
		t.Errorf("session user = %q, want u1", got.Session.UserID)
	}
}

func TestConfirmEmailLoginDisabledUser(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	env.Users.Put(auth.User{ID: "u-off", Email: "off@example.com", Status: auth.UserDisabled})
	id, code := startLogin(t, env, "off@example.com")

	_, err := env.Service.ConfirmEmailLogin(context.Background(), id, code, "")
	wantCode(t, err, apierror.UserDisabled)
	if env.Redis.Exists(env.Store.ChallengeKey(id)) {
		t.Error("challenge survives a disabled user")
	}
	if got := stateKeys(env); len(got) != 0 {
		t.Errorf("redis keys = %v, want only abuse counters", got)
	}
}

func TestConfirmEmailLoginConcurrentConfirmsOpenOneSession(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	id, code := startLogin(t, env, "alice@example.com")

	const n = 16
	errs := make([]error, n)
	results := make([]auth.Grant, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = env.Service.ConfirmEmailLogin(context.Background(), id, code, "")
		})
	}
	wg.Wait()

	// Each confirm counts an attempt before it compares its code: at most
	// five compare. One opens the session; the others that compared answer
	// that same session (retries within the grace window); the rest find
	// every attempt taken (as good as burned).
	var ok []auth.Grant
	for i, err := range errs {
		switch {
		case err == nil:
			ok = append(ok, results[i])
		case !apierror.Is(err, apierror.ChallengeNotFound):
			t.Errorf("concurrent confirm: %v, want success or CHALLENGE_NOT_FOUND", err)
		}
	}
	if len(ok) < 1 || len(ok) > env.Options.CodeMaxAttempts {
		t.Fatalf("successful confirms = %d, want 1 to %d", len(ok), env.Options.CodeMaxAttempts)
	}
	for _, g := range ok {
		if g.Session.ID != ok[0].Session.ID || g.Tokens.RefreshToken != ok[0].Tokens.RefreshToken {
			t.Errorf("confirms answered session %q / a different refresh token, want all the one session %q with one refresh token", g.Session.ID, ok[0].Session.ID)
		}
	}
	if got := sessionKeys(env); len(got) != 1 {
		t.Errorf("sessions = %v, want exactly 1", got)
	}
	if got, _ := env.Redis.Members(env.Store.UserSessionsKey(ok[0].Session.UserID)); len(got) != 1 {
		t.Errorf("user sessions = %v, want exactly 1", got)
	}
}

// reservingStore hands the Service a challenge's code hash only with a
// granted attempt reservation, and counts the reservations: the Service can
// compare no more codes than that.
type reservingStore struct {
	auth.Store
	granted atomic.Int64
}

// Challenge hides the code hash: no code can match what Challenge returns.
func (s *reservingStore) Challenge(ctx context.Context, id string) (auth.Challenge, error) {
	c, err := s.Store.Challenge(ctx, id)
	c.CodeHash = ""
	return c, err
}

func (s *reservingStore) ReserveAttempt(ctx context.Context, id string, maxAttempts int) (auth.Challenge, error) {
	c, err := s.Store.ReserveAttempt(ctx, id, maxAttempts)
	if err == nil {
		s.granted.Add(1)
	}
	return c, err
}

// failedAttempts sums the failed-attempt counters: the wrong codes compared.
func failedAttempts(t *testing.T, env *authtest.Env) int {
	t.Helper()
	var sum int
	for _, k := range env.Redis.Keys() {
		if strings.HasPrefix(k, env.Store.LimitKey("failed-attempts:")) {
			v, _ := env.Redis.Get(k)
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s = %q, want a count", k, v)
			}
			sum += n
		}
	}
	return sum
}

func TestConfirmEmailLoginConcurrentGuessesCompareAtMostMaxCodes(t *testing.T) {
	t.Parallel()
	const maxAttempts, guesses, rounds = 5, 20, 10
	store := &reservingStore{}
	env := authtest.New(t, authtest.Options{
		CodeMaxAttempts: maxAttempts,
		WrapStore:       func(s auth.Store) auth.Store { store.Store = s; return store },
	})
	ctx := context.Background()

	// The right code matches only the challenge a reservation hands out.
	id, code := startLogin(t, env, "solo@example.com")
	confirm(t, env, id, code)

	var won int
	for round := range rounds {
		id, code := startLogin(t, env, fmt.Sprintf("user%d@example.com", round))
		n, _ := strconv.Atoi(code)
		right := rand.IntN(guesses)
		granted, failed := store.granted.Load(), failedAttempts(t, env)

		// One right code hidden among distinct wrong ones, all at once.
		errs := make([]error, guesses)
		var wg sync.WaitGroup
		for i := range guesses {
			guess := fmt.Sprintf("%06d", (n+1+i)%1_000_000)
			if i == right {
				guess = code
			}
			wg.Go(func() {
				_, errs[i] = env.Service.ConfirmEmailLogin(ctx, id, guess, "")
			})
		}
		wg.Wait()

		counts := map[apierror.Code]int{}
		var ok int
		for _, err := range errs {
			var e *apierror.Error
			switch {
			case err == nil:
				ok++
			case !errors.As(err, &e):
				t.Fatalf("round %d: concurrent guess: %v, want a coded error", round, err)
			case e.Code == apierror.InvalidCode, e.Code == apierror.TooManyAttempts, e.Code == apierror.ChallengeNotFound:
				counts[e.Code]++
			default:
				t.Errorf("round %d: concurrent guess: %v, want INVALID_CODE, TOO_MANY_ATTEMPTS or CHALLENGE_NOT_FOUND", round, err)
			}
		}
		won += ok
		if got := store.granted.Load() - granted; got > maxAttempts {
			t.Errorf("round %d: %d codes compared, want at most %d", round, got, maxAttempts)
		}
		if got := counts[apierror.InvalidCode] + ok; got > maxAttempts {
			t.Errorf("round %d: %d INVALID_CODE and %d successes, want at most %d together (outcomes %v)", round, counts[apierror.InvalidCode], ok, maxAttempts, counts)
		}
		if got := failedAttempts(t, env) - failed + ok; got > maxAttempts {
			t.Errorf("round %d: %d wrong codes counted and %d successes, want at most %d together", round, got-ok, ok, maxAttempts)
		}
		if ok > 1 {
			t.Errorf("round %d: %d successes, want at most 1", round, ok)
		}
		key := env.Store.ChallengeKey(id)
		if tombstone := env.Redis.HGet(key, "session_id") != ""; env.Redis.Exists(key) && (ok == 0 || !tombstone) {
			t.Errorf("round %d: the challenge survives %d guesses (as anything but the right code's tombstone)", round, guesses)
		}
	}
	t.Logf("the right code won %d of %d rounds", won, rounds)
}

func TestConfirmEmailLoginConcurrentWrongCodes(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{CodeMaxAttempts: 5})
	id, code := startLogin(t, env, "alice@example.com")
	bad := wrongCode(t, code)

	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = env.Service.ConfirmEmailLogin(context.Background(), id, bad, "")
		})
	}
	wg.Wait()

	counts := map[apierror.Code]int{}
	for _, err := range errs {
		var e *apierror.Error
		if !errors.As(err, &e) {
			t.Fatalf("concurrent wrong code: %v, want a coded error", err)
		}
		counts[e.Code]++
	}
	// Five codes are compared: four INVALID_CODE, the fifth burns the
	// challenge; the rest find every attempt taken, or the challenge gone,
	// and are refused without a comparison.
	if counts[apierror.InvalidCode] != 4 || counts[apierror.TooManyAttempts] != 1 ||
		counts[apierror.ChallengeNotFound] != n-5 {
		t.Errorf("outcomes = %v, want 4 INVALID_CODE, 1 TOO_MANY_ATTEMPTS, %d CHALLENGE_NOT_FOUND", counts, n-5)
	}
	if got := failedAttempts(t, env); got != 5 {
		t.Errorf("failed attempts counted = %d, want 5 (the codes compared)", got)
	}
	if env.Redis.Exists(env.Store.ChallengeKey(id)) {
		t.Error("the challenge survives its attempts")
	}
}

func TestConfirmEmailLoginRedisFailure(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	id, code := startLogin(t, env, "alice@example.com")
	env.Redis.Close()
	_, err := env.Service.ConfirmEmailLogin(context.Background(), id, code, "")
	wantDependency(t, err, "redis")
}

func TestStartEmailLoginKeepsTheWholeCodeLifetime(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{CodeTTL: 1500 * time.Millisecond})
	id, _ := startLogin(t, env, "alice@example.com")
	if got := env.Redis.TTL(env.Store.ChallengeKey(id)); got <= 1400*time.Millisecond || got > 1500*time.Millisecond {
		t.Errorf("challenge TTL = %v, want about 1.5s (not rounded down to whole seconds)", got)
	}
}
