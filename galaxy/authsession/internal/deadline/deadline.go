// Package deadline budgets the calls authsession makes to its dependencies
// (Redis, the mail and the user service) against its caller's deadline: each
// call must end early enough that its failure, naming the dependency, still
// reaches the caller before the caller gives up (contracts/errors.md).
package deadline

import (
	"context"
	"fmt"
	"time"
)

// MinMargin is the least time kept back, of what is left before the
// caller's deadline, for the answer to travel back.
const MinMargin = 50 * time.Millisecond

// ErrExhausted reports that so little is left before the caller's deadline
// that a dependency call could not both run and have its answer reach the
// caller: the call is not made. It is a context.DeadlineExceeded, not a
// failure of the dependency.
var ErrExhausted = fmt.Errorf("no time left before the caller's deadline: %w", context.DeadlineExceeded)

// Margin is what is kept back of remaining for the answer:
// max(MinMargin, remaining/10).
func Margin(remaining time.Duration) time.Duration {
	return max(MinMargin, remaining/10)
}

// Budget returns ctx bounded by timeout (when positive) and by the caller's
// deadline less its Margin, whichever ends first. It fails, and the call
// must not be made, when ctx is already done (its own error) or when
// nothing is left of the budget (ErrExhausted). cancel is never nil.
func Budget(ctx context.Context, timeout time.Duration) (_ context.Context, cancel context.CancelFunc, err error) {
	if err := ctx.Err(); err != nil {
		return ctx, func() {}, err
	}
	if dl, ok := ctx.Deadline(); ok {
		remaining := time.Until(dl)
		budget := remaining - Margin(remaining)
		if budget <= 0 {
			return ctx, func() {}, ErrExhausted
		}
		if timeout <= 0 || budget < timeout {
			timeout = budget
		}
	}
	if timeout <= 0 {
		return ctx, func() {}, nil
	}
	ctx, cancel = context.WithTimeout(ctx, timeout)
	return ctx, cancel, nil
}
