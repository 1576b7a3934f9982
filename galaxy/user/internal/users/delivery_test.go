package users_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"galaxy/platform/apierror"
	"galaxy/platform/tracecontext"
	"galaxy/platform/tracecontext/tracecontexttest"
	"galaxy/user/internal/users"
	"galaxy/user/internal/userstest"
)

// traced is a context in the caller's trace of tracecontexttest.
func traced() context.Context {
	return tracecontext.Continue(context.Background(), propagation.MapCarrier{tracecontext.Header: tracecontexttest.Valid})
}

// TestDisableRevokesEverySessionBeforeItAnswers: authsession acknowledges
// at once, so the disable answers with the revocation done, and
// authsession was asked once, in the disable's trace.
func TestDisableRevokesEverySessionBeforeItAnswers(t *testing.T) {
	t.Parallel()
	e := userstest.New(t, userstest.Options{})
	userstest.Run(t, e.Deliverer)
	ada := e.Resolve(t, "ada@example.com")
	e.Auth.SetSessions(ada.ID, 3)

	u, err := e.Service.Disable(traced(), ada.ID)
	if err != nil {
		t.Fatalf("Disable: %v", err)
	}
	if u.Status != users.Disabled || u.Generation != 2 || u.Revocation.Pending != 0 || u.Revocation.Done != 2 || u.Revocation.Revoked != 3 {
		t.Errorf("Disable() = %+v, want disabled at generation 2 with its revocation done, 3 sessions", u)
	}
	calls := e.Auth.Calls()
	if len(calls) != 1 || calls[0].UserID != ada.ID || !calls[0].Acked {
		t.Fatalf("authsession calls = %+v, want one acknowledged for %s", calls, ada.ID)
	}
	if sent := tracecontexttest.Parse(t, calls[0].Traceparent); sent.TraceID != tracecontexttest.TraceID {
		t.Errorf("RevokeAllSessions sent trace %s, want the disable's %s", sent.TraceID, tracecontexttest.TraceID)
	}
	line := logLine(t, e, "sessions revoked")
	if line["user_id"] != ada.ID || line["revoked_sessions"] != float64(3) || line["trace_id"] != tracecontexttest.TraceID {
		t.Errorf("log line %v, want the user, 3 sessions and the disable's trace", line)
	}

	// Disabling again asks authsession nothing more.
	again, err := e.Service.Disable(context.Background(), ada.ID)
	if err != nil || again != u {
		t.Errorf("second Disable() = %+v, %v; want %+v unchanged", again, err, u)
	}
	if n := len(e.Auth.Calls()); n != 1 {
		t.Errorf("authsession calls = %d after a second disable, want still 1", n)
	}
}

// TestDisableRetriesUntilAcknowledged: authsession fails three times, then
// acknowledges; the disable, within its wait, answers the revocation done.
func TestDisableRetriesUntilAcknowledged(t *testing.T) {
	t.Parallel()
	e := userstest.New(t, userstest.Options{Failures: 3})
	userstest.Run(t, e.Deliverer)
	ada := e.Resolve(t, "ada@example.com")

	u, err := e.Service.Disable(context.Background(), ada.ID)
	if err != nil || u.Revocation.State() != users.RevocationDone {
		t.Fatalf("Disable() = %+v, %v; want the revocation done", u, err)
	}
	calls := e.Auth.Calls()
	if len(calls) != 4 || calls[3].Acked != true || calls[2].Acked {
		t.Fatalf("authsession calls = %+v, want 3 failed and 1 acknowledged", calls)
	}
	for _, c := range calls {
		if c.UserID != ada.ID {
			t.Errorf("call for %q, want %q", c.UserID, ada.ID)
		}
	}
	if n := strings.Count(e.Logs.String(), `"msg":"revocation not delivered; retrying"`); n != 3 {
		t.Errorf("%d failure lines, want 3", n)
	}
}

// TestDisableAnswersPendingAndDeliversLater: with authsession down the
// disable is stored and answered as pending within its wait; the failed
// attempts are kept with their cause; once authsession is up the
// revocation is delivered without anyone asking again.
func TestDisableAnswersPendingAndDeliversLater(t *testing.T) {
	t.Parallel()
	e := userstest.New(t, userstest.Options{Down: true, Wait: 100 * time.Millisecond})
	userstest.Run(t, e.Deliverer)
	ada := e.Resolve(t, "ada@example.com")

	started := time.Now()
	u, err := e.Service.Disable(context.Background(), ada.ID)
	if err != nil {
		t.Fatalf("Disable: %v", err)
	}
	if took := time.Since(started); took > 2*time.Second {
		t.Errorf("Disable took %v, want it bounded by the revocation wait", took)
	}
	if u.Status != users.Disabled || u.Revocation.Pending != 2 {
		t.Fatalf("Disable() = %+v, want disabled with the revocation of generation 2 pending", u)
	}
	userstest.Eventually(t, 5*time.Second, "a failed attempt recorded", func() bool { return e.User(t, ada.ID).Revocation.Attempts >= 1 })
	if r := e.User(t, ada.ID).Revocation; !strings.Contains(r.LastError, "authsession") || r.NextAttemptAt.IsZero() {
		t.Errorf("pending revocation = %+v, want the cause naming authsession and the next attempt's time", r)
	}

	e.Auth.Up()
	if !e.Auth.WaitAcked(ada.ID, 5*time.Second) {
		t.Fatal("the revocation was not delivered within 5s of authsession coming up")
	}
	userstest.Eventually(t, 5*time.Second, "the acknowledgement stored", func() bool {
		return e.User(t, ada.ID).Revocation.State() == users.RevocationDone
	})
}

// TestPendingRevocationSurvivesARestart: authsession is down while the
// user service disables a user and stops; a new deliverer (the service
// restarted) finds the pending revocation and delivers it.
func TestPendingRevocationSurvivesARestart(t *testing.T) {
	t.Parallel()
	e := userstest.New(t, userstest.Options{Down: true, Wait: 50 * time.Millisecond})
	stop := userstest.Run(t, e.Deliverer)
	ada := e.Resolve(t, "ada@example.com")
	if u, err := e.Service.Disable(context.Background(), ada.ID); err != nil || u.Revocation.Pending == 0 {
		t.Fatalf("Disable() = %+v, %v; want the revocation pending", u, err)
	}
	stop()

	e.Auth.Up()
	time.Sleep(100 * time.Millisecond)
	if calls := e.Auth.Calls(); len(calls) != 0 {
		t.Fatalf("authsession calls = %+v with no deliverer running, want none", calls)
	}
	userstest.Run(t, e.NewDeliverer(t))
	if !e.Auth.WaitAcked(ada.ID, 5*time.Second) {
		t.Fatal("the restarted deliverer did not deliver the pending revocation within 5s")
	}
	userstest.Eventually(t, 5*time.Second, "the acknowledgement stored", func() bool {
		return e.User(t, ada.ID).Revocation.State() == users.RevocationDone
	})
}

// TestStoppingMidCallLeavesTheRevocationDue: a deliverer stopped while
// authsession has not answered releases the revocation, so the next one
// delivers it at once instead of after the claim lapses.
func TestStoppingMidCallLeavesTheRevocationDue(t *testing.T) {
	t.Parallel()
	e := userstest.New(t, userstest.Options{Wait: 50 * time.Millisecond})
	e.Auth.Delay(time.Hour)
	stop := userstest.Run(t, e.Deliverer)
	ada := e.Resolve(t, "ada@example.com")
	if u, err := e.Service.Disable(context.Background(), ada.ID); err != nil || u.Revocation.Pending == 0 {
		t.Fatalf("Disable() = %+v, %v; want the revocation pending", u, err)
	}
	stop()
	if e.Redis.Exists("galaxy-user:revocation-claim:" + ada.ID) {
		t.Error("the stopped deliverer kept its claim")
	}

	e.Auth.Delay(0)
	userstest.Run(t, e.NewDeliverer(t))
	if !e.Auth.WaitAcked(ada.ID, 500*time.Millisecond) {
		t.Fatal("the revocation was not delivered at once by the next deliverer")
	}
}

// TestEnableWaitsForTheRevocation: a user whose revocation is pending is
// not enabled (DEPENDENCY_UNAVAILABLE naming authsession, nothing
// changed); once it is delivered the user is enabled, and no revocation
// reaches authsession after that, so the user's new sessions live.
func TestEnableWaitsForTheRevocation(t *testing.T) {
	t.Parallel()
	e := userstest.New(t, userstest.Options{Down: true, Wait: 50 * time.Millisecond})
	userstest.Run(t, e.Deliverer)
	ada := e.Resolve(t, "ada@example.com")
	if _, err := e.Service.Disable(context.Background(), ada.ID); err != nil {
		t.Fatal(err)
	}

	_, err := e.Service.Enable(context.Background(), ada.ID)
	if !apierror.Is(err, apierror.DependencyUnavailable) || apierror.As(err).Metadata["dependency"] != "authsession" {
		t.Fatalf("Enable with the revocation pending = %v, want DEPENDENCY_UNAVAILABLE (authsession)", err)
	}
	if u := e.User(t, ada.ID); u.Status != users.Disabled || u.Generation != 2 {
		t.Errorf("after the refused enable: %+v, want disabled at generation 2", u)
	}

	e.Auth.Up()
	var enabled users.User
	userstest.Eventually(t, 5*time.Second, "the user enabled", func() bool {
		enabled, err = e.Service.Enable(context.Background(), ada.ID)
		return err == nil
	})
	if enabled.Status != users.Active || enabled.Generation != 3 || enabled.Revocation.Done != 2 {
		t.Errorf("Enable() = %+v, want active at generation 3 after the revocation of generation 2", enabled)
	}
	calls := len(e.Auth.Calls())
	time.Sleep(200 * time.Millisecond) // several poll rounds of the deliverer
	if now := len(e.Auth.Calls()); now != calls {
		t.Errorf("authsession got %d calls after the enable, want none", now-calls)
	}
	if members, _ := e.Redis.ZMembers("galaxy-user:revocations"); len(members) != 0 {
		t.Errorf("outbox = %v after the enable, want it empty", members)
	}
}

// TestManyDisablesAreAllDelivered: disables of many users at once, with
// authsession failing now and then, each reach authsession.
func TestManyDisablesAreAllDelivered(t *testing.T) {
	t.Parallel()
	e := userstest.New(t, userstest.Options{Failures: 10, Wait: 20 * time.Millisecond})
	userstest.Run(t, e.Deliverer)
	var ids []string
	for i := range 40 {
		u := e.Resolve(t, "user"+string(rune('a'+i%26))+strings.Repeat("x", i)+"@example.com")
		ids = append(ids, u.ID)
		if _, err := e.Service.Disable(context.Background(), u.ID); err != nil {
			t.Fatalf("Disable: %v", err)
		}
	}
	for _, id := range ids {
		if !e.Auth.WaitAcked(id, 10*time.Second) {
			t.Fatalf("the revocation of %s was not delivered within 10s", id)
		}
	}
}

// TestBackoffIsBounded: the delay after the n-th failure is RetryMin
// doubled n-1 times, within ±20 %, and never above RetryMax.
func TestBackoffIsBounded(t *testing.T) {
	t.Parallel()
	e := userstest.New(t, userstest.Options{RetryMin: 100 * time.Millisecond, RetryMax: 3 * time.Second})
	for attempts := 1; attempts <= 12; attempts++ {
		base := min(100*time.Millisecond<<(attempts-1), 3*time.Second)
		for range 50 {
			got := users.Backoff(e.Deliverer, attempts)
			if got < base*8/10 || got > base*12/10 || got > 3*time.Second {
				t.Fatalf("backoff after %d failures = %v, want %v ±20%% and at most 3s", attempts, got, base)
			}
		}
	}
}

func TestNewDelivererChecksItsOptions(t *testing.T) {
	t.Parallel()
	e := userstest.New(t, userstest.Options{})
	valid := users.DeliveryOptions{Store: e.Store, Revoker: e.Revoker, Logger: e.Logger, CallTimeout: time.Second, RetryMin: time.Millisecond, RetryMax: time.Second}
	for name, edit := range map[string]func(*users.DeliveryOptions){
		"no store":              func(o *users.DeliveryOptions) { o.Store = nil },
		"no revoker":            func(o *users.DeliveryOptions) { o.Revoker = nil },
		"no logger":             func(o *users.DeliveryOptions) { o.Logger = nil },
		"no call timeout":       func(o *users.DeliveryOptions) { o.CallTimeout = 0 },
		"no minimum":            func(o *users.DeliveryOptions) { o.RetryMin = 0 },
		"maximum below minimum": func(o *users.DeliveryOptions) { o.RetryMax = 0 },
		"negative poll":         func(o *users.DeliveryOptions) { o.Poll = -1 },
	} {
		opts := valid
		edit(&opts)
		if _, err := users.NewDeliverer(opts); err == nil {
			t.Errorf("%s: NewDeliverer accepted it", name)
		}
	}
	if _, err := users.NewDeliverer(valid); err != nil {
		t.Errorf("NewDeliverer(valid) = %v", err)
	}
}

// logLine is the first log line with message msg.
func logLine(t *testing.T, e *userstest.Env, msg string) map[string]any {
	t.Helper()
	for line := range strings.SplitSeq(e.Logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			return m
		}
	}
	t.Fatalf("no %q line in\n%s", msg, e.Logs.String())
	return nil
}
