package users_test

import (
	"context"
	"testing"
	"time"

	"galaxy/user/internal/users"
	"galaxy/user/internal/userstest"
)

// TestFailedDeliveryIsTriedAgainAfterItsBackoff: each failed delivery is
// tried again once its backoff has passed, not at the deliverer's next
// poll of the outbox, however long the poll interval is.
func TestFailedDeliveryIsTriedAgainAfterItsBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		failures int
	}{
		{"one failure", 1},
		{"five failures", 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := userstest.New(t, userstest.Options{Failures: tc.failures, RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
			d, err := users.NewDeliverer(users.DeliveryOptions{
				Store: e.Store, Revoker: e.Revoker, Logger: e.Logger,
				CallTimeout: time.Second, RetryMin: e.Options.RetryMin, RetryMax: e.Options.RetryMax,
				Poll: time.Hour,
			})
			if err != nil {
				t.Fatal(err)
			}
			userstest.Run(t, d)
			ada := e.Resolve(t, "ada@example.com")
			if _, err := e.Store.Disable(context.Background(), ada.ID, time.Now(), ""); err != nil {
				t.Fatalf("Disable: %v", err)
			}

			started := time.Now()
			d.Kick()
			if !e.Auth.WaitAcked(ada.ID, 5*time.Second) {
				t.Fatalf("not delivered within 5s after %d failures: %+v", tc.failures, e.Auth.Calls())
			}
			if took, want := time.Since(started), time.Duration(tc.failures)*time.Second/2; took > want {
				t.Errorf("delivered %v after the first attempt, want within %v: retries waited for the poll", took, want)
			}
		})
	}
}
