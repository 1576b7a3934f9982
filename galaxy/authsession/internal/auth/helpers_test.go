package auth_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/authtest"
	"galaxy/platform/apierror"
)

// startLogin starts a login for email and returns the challenge id and the
// code the fake mail service received.
func startLogin(t *testing.T, env *authtest.Env, email string) (string, string) {
	t.Helper()
	res, err := env.Service.StartEmailLogin(context.Background(), email, "203.0.113.7")
	if err != nil {
		t.Fatalf("StartEmailLogin(%q): %v", email, err)
	}
	return res.ChallengeID, env.Mail.CodeFor(t, res.ChallengeID)
}

// wrongCode returns a well-formed code different from code.
func wrongCode(t *testing.T, code string) string {
	t.Helper()
	n, err := strconv.Atoi(code)
	if err != nil {
		t.Fatalf("code %q is not a number", code)
	}
	return fmt.Sprintf("%06d", (n+1)%1_000_000)
}

// wantCode fails unless err carries code.
func wantCode(t *testing.T, err error, code apierror.Code) {
	t.Helper()
	if !apierror.Is(err, code) {
		t.Fatalf("error = %v, want code %s", err, code)
	}
}

// wantDependency fails unless err is DEPENDENCY_UNAVAILABLE for dependency.
func wantDependency(t *testing.T, err error, dependency string) {
	t.Helper()
	wantCode(t, err, apierror.DependencyUnavailable)
	if got := apierror.As(err).Metadata["dependency"]; got != dependency {
		t.Fatalf("dependency = %q, want %q (error %v)", got, dependency, err)
	}
}

// login starts and confirms a login for email. Another login of the same
// email must wait for the resend cooldown.
func login(t *testing.T, env *authtest.Env, email string) auth.Grant {
	t.Helper()
	id, code := startLogin(t, env, email)
	return confirm(t, env, id, code)
}

// refresh refreshes with token and fails the test on error.
func refresh(t *testing.T, env *authtest.Env, token string) auth.Grant {
	t.Helper()
	res, err := env.Service.RefreshSession(context.Background(), token, "203.0.113.7")
	if err != nil {
		t.Fatalf("RefreshSession: %v", err)
	}
	return res
}

// clock is a service clock that moves only when told, taking the Env's
// miniredis along: its EXPIREAT reference and its TTLs move together.
type clock struct {
	mu  sync.Mutex
	now time.Time
	env *authtest.Env
}

// clockEnv returns an Env whose clock starts now (whole seconds).
func clockEnv(t *testing.T, opts authtest.Options) (*authtest.Env, *clock) {
	t.Helper()
	c := &clock{now: time.Now().Truncate(time.Second)}
	opts.Now = c.Now
	c.env = authtest.New(t, opts)
	c.env.Redis.SetTime(c.now)
	return c.env, c
}

// Now returns the clock's time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// advance moves the service clock and miniredis by d.
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.env.Redis.SetTime(c.now)
	c.env.Redis.FastForward(d)
}

// confirm confirms challengeID with code and fails the test on error.
func confirm(t *testing.T, env *authtest.Env, challengeID, code string) auth.Grant {
	t.Helper()
	res, err := env.Service.ConfirmEmailLogin(context.Background(), challengeID, code, "203.0.113.7")
	if err != nil {
		t.Fatalf("ConfirmEmailLogin: %v", err)
	}
	return res
}

// sessionKeys returns the session keys in Redis.
func sessionKeys(env *authtest.Env) []string {
	var keys []string
	for _, k := range env.Redis.Keys() {
		if strings.HasPrefix(k, authtest.Prefix+"session:") {
			keys = append(keys, k)
		}
	}
	return keys
}

// stateKeys returns the Redis keys of challenges, sessions and refresh
// tokens: every key but the abuse counters.
func stateKeys(env *authtest.Env) []string {
	var keys []string
	for _, k := range env.Redis.Keys() {
		if !strings.HasPrefix(k, env.Store.LimitKey("")) {
			keys = append(keys, k)
		}
	}
	return keys
}

// redisDump returns every string stored in Redis (hash fields and values,
// set members, string values) by key.
func redisDump(t *testing.T, env *authtest.Env) map[string][]string {
	t.Helper()
	dump := map[string][]string{}
	for _, key := range env.Redis.Keys() {
		var values []string
		switch typ := env.Redis.Type(key); typ {
		case "hash":
			fields, _ := env.Redis.HKeys(key)
			for _, f := range fields {
				values = append(values, f, env.Redis.HGet(key, f))
			}
		case "set":
			values, _ = env.Redis.Members(key)
		case "string":
			v, _ := env.Redis.Get(key)
			values = []string{v}
		default:
			t.Fatalf("key %s has unexpected type %q", key, typ)
		}
		dump[key] = values
	}
	return dump
}
