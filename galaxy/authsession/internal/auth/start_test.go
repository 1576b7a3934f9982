package auth_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/authtest"
	"galaxy/platform/apierror"
)

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

func TestStartEmailLoginKeepsTheWholeCodeLifetime(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{CodeTTL: 1500 * time.Millisecond})
	id, _ := startLogin(t, env, "alice@example.com")
	if got := env.Redis.TTL(env.Store.ChallengeKey(id)); got <= 1400*time.Millisecond || got > 1500*time.Millisecond {
		t.Errorf("challenge TTL = %v, want about 1.5s (not rounded down to whole seconds)", got)
	}
}
