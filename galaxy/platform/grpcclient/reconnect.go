package grpcclient

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// ReconnectWait bounds how long after the connection to a service was
// lost a call waits for a new one. gRPC fails a call at once while its
// channel backs off between connection attempts (TRANSIENT_FAILURE), so
// without waiting, a service restarted on its address (its process
// stopped, a new one bound a moment later) fails the calls made in the gap
// although the new process serves. With it, a call that cannot be sent
// because the connection is being remade waits for the new one, within
// its deadline, until ReconnectWait after the loss, and is then sent on
// it; no call is ever sent twice, so one that had reached the old process
// fails. Once the connection has been away for longer than ReconnectWait,
// calls fail at once again, until one is ready. Backoff tries again 0.1,
// 0.26, 0.52, 0.93 and 1.59 s after the first failed attempt, so a restart
// shorter than about 1.5 s is invisible to callers; a longer outage costs
// the calls of its first 2 s up to that wait before they fail.
const ReconnectWait = 2 * time.Second

// link follows the state of a client's connection: whether it was ready
// when last seen and, once it was lost, when; and makes the calls that
// cannot be sent while it is being remade wait for it (unary).
type link struct {
	conn *grpc.ClientConn
	wait time.Duration

	mu     sync.Mutex
	ready  bool      // when last seen
	lostAt time.Time // when last seen leaving READY; zero while READY and before it first was
}

// follow sees every state change of the connection until ctx ends or the
// connection is closed, so that a loss is timed when it happens even with
// no call under way. It may see a change late; a call that was answered
// makes the connection count as ready by then (unary).
func (l *link) follow(ctx context.Context) {
	for {
		state := l.conn.GetState()
		l.see(state)
		if state == connectivity.Shutdown || !l.conn.WaitForStateChange(ctx, state) {
			return
		}
	}
}

// see records state and returns until when calls wait for a connection:
// waiting while it was lost less than l.wait ago.
func (l *link) see(state connectivity.State) (until time.Time, waiting bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	switch {
	case state == connectivity.Ready:
		l.ready, l.lostAt = true, time.Time{}
	case l.ready:
		l.ready, l.lostAt = false, now
	}
	if l.lostAt.IsZero() {
		return time.Time{}, false
	}
	until = l.lostAt.Add(l.wait)
	return until, now.Before(until)
}

// await waits, within ctx, while the connection is being remade: until it
// is ready or the wait since the loss is over. It returns at once when the
// connection is ready, was never ready or has been away for longer than
// the wait. With leave, it first waits for a ready connection to be seen
// leaving READY: one a call just failed to be sent on.
func (l *link) await(ctx context.Context, leave bool) {
	for {
		state := l.conn.GetState()
		until, waiting := l.see(state)
		switch {
		case state == connectivity.Ready && !leave, state == connectivity.Shutdown:
			return
		case state == connectivity.Ready:
			until = time.Now().Add(l.wait)
		case !waiting:
			return
		case state == connectivity.Idle:
			l.conn.Connect()
		}
		leave = false
		waitCtx, cancel := context.WithDeadline(ctx, until)
		changed := l.conn.WaitForStateChange(waitCtx, state)
		cancel()
		if !changed {
			return
		}
	}
}

// unary is the client interceptor of the connection's calls. A call waits
// while the connection is being remade (await) and, when it could not be
// sent for want of a connection (no attempt of it went out, so the
// service never saw it), waits again and is tried again, as long as the wait since
// the loss lasts. The health check never waits: readiness tells the state
// of the connection as it is. Every answered call makes the connection
// count as ready.
func (l *link) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if method == healthpb.Health_Check_FullMethodName {
		return l.answered(invoker(ctx, method, req, reply, cc, opts...))
	}
	sent := new(atomic.Bool)
	ctx = context.WithValue(ctx, sentKey{}, sent)
	for retry := false; ; retry = true {
		l.await(ctx, retry)
		err := l.answered(invoker(ctx, method, req, reply, cc, opts...))
		if err == nil || sent.Load() || status.Code(err) != codes.Unavailable || !l.reconnecting() {
			return err
		}
	}
}

// reconnecting reports whether a call that could not be sent waits and is
// tried again: while the connection is being remade, and while it still
// looks ready (the call found it broken before the loss was seen).
func (l *link) reconnecting() bool {
	state := l.conn.GetState()
	_, waiting := l.see(state)
	return waiting || state == connectivity.Ready
}

// answered sees the connection ready when a call was answered (err nil).
func (l *link) answered(err error) error {
	if err == nil {
		l.see(connectivity.Ready)
	}
	return err
}

// sentKey keys, in a call's context, whether its latest attempt went out
// on a connection (attempts).
type sentKey struct{}

// attempts is a stats handler that tells a call (sentKey) whether its
// latest attempt went out on a connection: each attempt begins unsent and
// is sent once its headers are queued on a transport. gRPC makes a new
// attempt of a call (a transparent retry) only when no earlier one reached
// the server, so a call whose latest attempt is unsent was never seen by
// the service.
type attempts struct{}

func (attempts) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (attempts) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (attempts) HandleConn(context.Context, stats.ConnStats) {}

func (attempts) HandleRPC(ctx context.Context, s stats.RPCStats) {
	sent, ok := ctx.Value(sentKey{}).(*atomic.Bool)
	if !ok {
		return
	}
	switch s.(type) {
	case *stats.Begin:
		sent.Store(false)
	case *stats.OutHeader:
		sent.Store(true)
	}
}
