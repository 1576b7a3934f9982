package auth_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/authtest"
	"galaxy/platform/apierror"
)

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
