package authtest

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Events receives the revocation signals published on the Env's Redis.
type Events struct {
	ps *redis.PubSub
}

// SubscribeEvents subscribes to the revocation channel, {p}session-events;
// the subscription ends with t.
func (e *Env) SubscribeEvents(t testing.TB) *Events {
	t.Helper()
	ps := e.Client.Subscribe(context.Background(), e.Store.EventsChannel())
	t.Cleanup(func() { ps.Close() })
	if _, err := ps.Receive(context.Background()); err != nil { // the subscription confirmation
		t.Fatalf("subscribe to %s: %v", e.Store.EventsChannel(), err)
	}
	return &Events{ps: ps}
}

// Next returns the payload of the next signal; it fails t when none comes
// within a second.
func (ev *Events) Next(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	msg, err := ev.ps.ReceiveMessage(ctx)
	if err != nil {
		t.Fatalf("no revocation signal: %v", err)
	}
	return msg.Payload
}

// None fails t if a signal arrives within wait.
func (ev *Events) None(t testing.TB, wait time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if msg, err := ev.ps.ReceiveMessage(ctx); err == nil {
		t.Fatalf("unexpected revocation signal %s", msg.Payload)
	}
}
