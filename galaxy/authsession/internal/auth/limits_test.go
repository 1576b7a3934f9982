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

// wantLimited fails unless err is RATE_LIMITED with RetryAfter retryAfter.
func wantLimited(t *testing.T, err error, retryAfter time.Duration) {
	t.Helper()
	wantCode(t, err, apierror.RateLimited)
	if got := apierror.As(err).RetryAfter; got != retryAfter {
		t.Errorf("RetryAfter = %v, want %v", got, retryAfter)
	}
}

// start starts a login for email from clientID and returns the error.
func start(env *authtest.Env, email, clientID string) error {
	_, err := env.Service.StartEmailLogin(context.Background(), email, clientID)
	return err
}

func TestStartEmailLoginResendCooldown(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	env.Users.Put(auth.User{ID: "u-known", Email: "known@example.com", Status: auth.UserActive})

	// Known and unknown emails answer alike.
	for _, email := range []string{"known@example.com", "stranger@example.com"} {
		t.Run(email, func(t *testing.T) {
			if err := start(env, email, "c1"); err != nil {
				t.Fatalf("first start: %v", err)
			}
			wantLimited(t, start(env, strings.ToUpper(email), "c2"), 30*time.Second)
		})
	}
	env.Redis.FastForward(10 * time.Second)
	wantLimited(t, start(env, "known@example.com", ""), 20*time.Second)
	env.Redis.FastForward(20 * time.Second)
	if err := start(env, "known@example.com", ""); err != nil {
		t.Errorf("start after the cooldown: %v", err)
	}
	if got := len(env.Mail.Messages()); got != 3 {
		t.Errorf("mail messages = %d, want 3 (none for a refused start)", got)
	}
	if got := env.Users.Calls(); got != 0 {
		t.Errorf("user service calls = %d, want 0", got)
	}
}

func TestStartEmailLoginStartLimits(t *testing.T) {
	t.Parallel()
	limits := auth.Limits{ResendCooldown: time.Second, StartsPerEmail: 3, StartsPerClient: 3, StartWindow: time.Minute}
	cases := []struct {
		name string
		// email and client of the i-th start
		email, client func(i int) string
		// another start that the limit does not touch
		other func(env *authtest.Env) error
	}{
		{
			name:   "per email",
			email:  func(int) string { return "alice@example.com" },
			client: func(i int) string { return string(rune('a' + i)) },
			other:  func(env *authtest.Env) error { return start(env, "bob@example.com", "z") },
		},
		{
			name:   "per client",
			email:  func(i int) string { return string(rune('a'+i)) + "@example.com" },
			client: func(int) string { return "198.51.100.1" },
			other:  func(env *authtest.Env) error { return start(env, "z@example.com", "198.51.100.2") },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := authtest.New(t, authtest.Options{Limits: limits})
			for i := range 3 {
				if err := start(env, tc.email(i), tc.client(i)); err != nil {
					t.Fatalf("start #%d: %v", i+1, err)
				}
				env.Redis.FastForward(time.Second)
			}
			wantLimited(t, start(env, tc.email(3), tc.client(3)), time.Minute-3*time.Second)
			if got := stateKeys(env); len(got) != 3 {
				t.Errorf("challenges = %v, want 3 (none for a refused start)", got)
			}
			if err := tc.other(env); err != nil {
				t.Errorf("start outside the limit: %v", err)
			}
			env.Redis.FastForward(time.Minute - 3*time.Second)
			if err := start(env, tc.email(4), tc.client(4)); err != nil {
				t.Errorf("start in the next window: %v", err)
			}
		})
	}
}

func TestStartEmailLoginWithoutClientID(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{Limits: auth.Limits{StartsPerClient: 1}})
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if err := start(env, email, ""); err != nil {
			t.Errorf("start(%s) without a client id: %v, want no per-client limit", email, err)
		}
	}
}

func TestFailedAttemptCap(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{CodeMaxAttempts: 3, Limits: auth.Limits{FailedAttemptsPerHour: 4}})
	ctx := context.Background()

	// Three wrong codes burn the first challenge; the resend does not reset
	// the count, and one more wrong code reaches the cap.
	id, code := startLogin(t, env, "alice@example.com")
	steps := []apierror.Code{apierror.InvalidCode, apierror.InvalidCode, apierror.TooManyAttempts}
	for i, want := range steps {
		_, err := env.Service.ConfirmEmailLogin(ctx, id, wrongCode(t, code), "")
		if !apierror.Is(err, want) {
			t.Fatalf("wrong code #%d: %v, want %s", i+1, err, want)
		}
	}
	env.Redis.FastForward(env.Options.Limits.ResendCooldown)
	id, code = startLogin(t, env, "alice@example.com")
	_, err := env.Service.ConfirmEmailLogin(ctx, id, wrongCode(t, code), "")
	wantCode(t, err, apierror.InvalidCode)

	// At the cap, even the right code is not compared, and no login starts.
	left := time.Hour - env.Options.Limits.ResendCooldown
	_, err = env.Service.ConfirmEmailLogin(ctx, id, code, "")
	wantLimited(t, err, left)
	if got := env.Redis.HGet(env.Store.ChallengeKey(id), "attempts"); got != "1" {
		t.Errorf("attempts = %q, want 1 (a refused confirm is not an attempt)", got)
	}
	env.Redis.FastForward(env.Options.Limits.ResendCooldown)
	wantLimited(t, start(env, "alice@example.com", ""), left-env.Options.Limits.ResendCooldown)
	if err := start(env, "bob@example.com", ""); err != nil {
		t.Errorf("another email: %v, want no limit", err)
	}

	// The hour ends: the challenge has long expired, a new login works.
	env.Redis.FastForward(left)
	id, code = startLogin(t, env, "alice@example.com")
	confirm(t, env, id, code)
}

func TestLimitKeysHoldNoEmailOrClientID(t *testing.T) {
	t.Parallel()
	env := authtest.New(t, authtest.Options{})
	id, code := startLogin(t, env, "Alice@Example.com")
	env.Service.ConfirmEmailLogin(context.Background(), id, wrongCode(t, code), "")

	var limitKeys int
	for key, values := range redisDump(t, env) {
		if !strings.HasPrefix(key, env.Store.LimitKey("")) {
			continue
		}
		limitKeys++
		for _, v := range append(values, key) {
			lower := strings.ToLower(v)
			if strings.Contains(lower, "alice") || strings.Contains(lower, "203.0.113.7") {
				t.Errorf("%s holds the email or the client id in %q", key, v)
			}
		}
	}
	// resend cooldown, starts per email and per client, failed attempts
	if limitKeys != 4 {
		t.Errorf("limit keys = %d, want 4", limitKeys)
	}
}

// TestFailedAttemptCapHoldsUnderConcurrency sends many wrong codes at once,
// spread over several challenges of one email: the cap's check and count
// are one step, so at most the cap of them are compared (each compared
// wrong code answers INVALID_CODE or TOO_MANY_ATTEMPTS) and every other is
// RATE_LIMITED.
func TestFailedAttemptCapHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		limit, challenges   int
		guessesPerChallenge int
	}{
		// At most eight guesses per challenge: more at once contend for
		// the challenge's own attempt counter, a limit not tested here.
		{"one challenge", 3, 1, 8},
		{"three challenges", 4, 3, 8},
		{"five challenges, cap of one", 1, 5, 5},
		{"many guesses", 10, 5, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := authtest.New(t, authtest.Options{
				CodeMaxAttempts: 1000,
				Limits:          auth.Limits{FailedAttemptsPerHour: tc.limit, StartsPerEmail: tc.challenges},
			})
			type challenge struct{ id, code string }
			var challenges []challenge
			for range tc.challenges {
				id, code := startLogin(t, env, "race@example.com")
				challenges = append(challenges, challenge{id, code})
				env.Redis.FastForward(env.Options.Limits.ResendCooldown)
			}

			var wg sync.WaitGroup
			errs := make([]error, tc.challenges*tc.guessesPerChallenge)
			for i := range errs {
				c := challenges[i%tc.challenges]
				guess := fmt.Sprintf("%06d", (mustAtoi(t, c.code)+1+i)%1_000_000)
				wg.Go(func() { _, errs[i] = env.Service.ConfirmEmailLogin(context.Background(), c.id, guess, "") })
			}
			wg.Wait()

			counts := map[apierror.Code]int{}
			for _, err := range errs {
				if err == nil {
					t.Fatalf("a wrong code opened a session")
				}
				counts[apierror.As(err).Code]++
			}
			compared := counts[apierror.InvalidCode] + counts[apierror.TooManyAttempts]
			if compared > tc.limit || compared == 0 {
				t.Errorf("compared %d wrong codes (outcomes %v), want 1 to %d", compared, counts, tc.limit)
			}
			if got, want := counts[apierror.RateLimited], len(errs)-compared; got != want {
				t.Errorf("RATE_LIMITED = %d (outcomes %v), want every other guess: %d", got, counts, want)
			}
			if got := failedAttempts(t, env); got < compared {
				t.Errorf("failed attempts counted = %d, want at least the %d compared", got, compared)
			}
		})
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("atoi %q: %v", s, err)
	}
	return n
}
