package deadline_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"galaxy/authsession/internal/deadline"
)

func TestMargin(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		remaining time.Duration
		want      time.Duration
	}{
		{"little left keeps the floor", 200 * time.Millisecond, deadline.MinMargin},
		{"exactly the floor's tenfold", 500 * time.Millisecond, 50 * time.Millisecond},
		{"a tenth of a long deadline", 3 * time.Second, 300 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := deadline.Margin(tc.remaining); got != tc.want {
				t.Errorf("Margin(%v) = %v, want %v", tc.remaining, got, tc.want)
			}
		})
	}
}

func TestBudget(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		deadline time.Duration // 0: no caller deadline
		timeout  time.Duration
		// want is the budget's expected length, within tolerance; 0 means
		// the context comes back without a deadline.
		want    time.Duration
		wantErr error
	}{
		{"no deadline, no timeout", 0, 0, 0, nil},
		{"no deadline: the timeout", 0, 2 * time.Second, 2 * time.Second, nil},
		{"the timeout ends first", 10 * time.Second, time.Second, time.Second, nil},
		{"the caller's deadline less a tenth ends first", 3 * time.Second, 5 * time.Second, 2700 * time.Millisecond, nil},
		{"the caller's deadline less the floor", 300 * time.Millisecond, 5 * time.Second, 250 * time.Millisecond, nil},
		{"a caller's deadline and no timeout", time.Second, 0, 900 * time.Millisecond, nil},
		{"nothing left", 40 * time.Millisecond, time.Second, 0, deadline.ErrExhausted},
	}
	const tolerance = 30 * time.Millisecond
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			got, cancel, err := deadline.Budget(ctx, tc.timeout)
			defer cancel()
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Budget() error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("error %v is not a context.DeadlineExceeded", err)
				}
				return
			}
			dl, ok := got.Deadline()
			if tc.want == 0 {
				if ok {
					t.Errorf("budget has a deadline in %v, want none", time.Until(dl))
				}
				return
			}
			if !ok {
				t.Fatalf("budget has no deadline, want one in %v", tc.want)
			}
			if left := time.Until(dl); left > tc.want || left < tc.want-tolerance {
				t.Errorf("budget ends in %v, want %v", left, tc.want)
			}
		})
	}
}

func TestBudgetOfADoneContext(t *testing.T) {
	t.Parallel()
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	cases := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"deadline passed", expired, context.DeadlineExceeded},
		{"cancelled", cancelled, context.Canceled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, cancel, err := deadline.Budget(tc.ctx, time.Second)
			defer cancel()
			if !errors.Is(err, tc.want) {
				t.Errorf("Budget() error = %v, want %v", err, tc.want)
			}
		})
	}
}
