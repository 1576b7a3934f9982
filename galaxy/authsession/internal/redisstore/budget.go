package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"galaxy/authsession/internal/deadline"
)

// budgetHook bounds every command, pipeline and transaction by the
// caller's deadline less the answer's margin (deadline.Budget), so a Redis
// that hangs is reported as DEPENDENCY_UNAVAILABLE (redis) while the caller
// still listens. With no time left the command is not sent at all.
type budgetHook struct{}

func (budgetHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (budgetHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		bctx, cancel, err := budget(ctx)
		defer cancel()
		if err != nil {
			cmd.SetErr(err)
			return err
		}
		return budgetError(ctx, next(bctx, cmd), cmd)
	}
}

func (budgetHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		bctx, cancel, err := budget(ctx)
		defer cancel()
		if err != nil {
			for _, cmd := range cmds {
				cmd.SetErr(err)
			}
			return err
		}
		return budgetError(ctx, next(bctx, cmds), cmds...)
	}
}

// budgeted marks a context that is already a command's budget: the
// commands the client runs inside one (a new connection's handshake) share
// it rather than take a margin again.
type budgeted struct{}

func budget(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if ctx.Value(budgeted{}) != nil {
		return ctx, func() {}, nil
	}
	bctx, cancel, err := deadline.Budget(ctx, 0)
	if err != nil {
		return bctx, cancel, err
	}
	return context.WithValue(bctx, budgeted{}, true), cancel, nil
}

// errNoAnswer is how a command that ran out of its budget fails while the
// caller still waits: Redis did not answer in time. It is no context error,
// so storeError reports it as a failure of Redis.
var errNoAnswer = errors.New("redis did not answer within the caller's deadline")

// budgetError replaces the context error of a command whose budget ran out,
// while the caller's own context (ctx) is still live, by errNoAnswer.
func budgetError(ctx context.Context, err error, cmds ...redis.Cmder) error {
	if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	for _, cmd := range cmds {
		if errors.Is(cmd.Err(), context.DeadlineExceeded) {
			cmd.SetErr(errNoAnswer)
		}
	}
	return fmt.Errorf("%w (%v)", errNoAnswer, err)
}
