package users

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"galaxy/platform/tracecontext"
)

// Deliverer defaults.
const (
	// DefaultPoll is how often the outbox is read when nothing is known to
	// be due: it finds revocations another instance enqueued, or left
	// claimed when it stopped, and those a failing store kept hidden.
	DefaultPoll = time.Second
	// DefaultParallel bounds the deliveries in flight at once.
	DefaultParallel = 8
	// claimSlack is added to the call timeout to make a delivery's claim:
	// the claim outlives the call, so no other deliverer starts one while
	// it may still reach authsession.
	claimSlack = time.Second
	// bookkeepingTimeout bounds the store writes after a delivery, which
	// run even when the deliverer is stopping.
	bookkeepingTimeout = time.Second
	// batch is how many due revocations one read of the outbox takes.
	batch = 64
	// maxErrorLength bounds the failure cause kept with a revocation.
	maxErrorLength = 256
)

// DeliveryOptions configure a Deliverer.
type DeliveryOptions struct {
	Store   Store
	Revoker Revoker
	Logger  *slog.Logger
	// CallTimeout bounds each RevokeAllSessions call.
	CallTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between the attempts of one
	// revocation: RetryMin after the first failure, doubling after each
	// further one up to RetryMax, each delay with ±20 % jitter.
	RetryMin, RetryMax time.Duration
	// Poll (default DefaultPoll) and Parallel (default DefaultParallel).
	Poll     time.Duration
	Parallel int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Deliverer delivers pending revocations to authsession, from the durable
// outbox the Store keeps, until each is acknowledged: it reads what is due,
// claims each revocation, calls RevokeAllSessions and records the outcome,
// an acknowledgement or a failure with the time of the next attempt. A
// revocation enqueued before a restart is found by the next Run; one that
// was being delivered when its deliverer stopped is due again once the
// claim lapses. Delivery is at least once: authsession may be asked again
// after an acknowledgement it gave was lost, which revokes nothing more.
type Deliverer struct {
	store       Store
	revoker     Revoker
	logger      *slog.Logger
	callTimeout time.Duration
	retryMin    time.Duration
	retryMax    time.Duration
	poll        time.Duration
	parallel    int
	now         func() time.Time

	kick chan struct{}

	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}
	failing bool // the outbox could not be read last time (logged once per outage)
}

var _ Deliveries = (*Deliverer)(nil)

// NewDeliverer checks opts and returns a Deliverer; Run starts it.
func NewDeliverer(opts DeliveryOptions) (*Deliverer, error) {
	switch {
	case opts.Store == nil:
		return nil, errors.New("users: a store is required")
	case opts.Revoker == nil:
		return nil, errors.New("users: a revoker is required")
	case opts.Logger == nil:
		return nil, errors.New("users: a logger is required")
	case opts.CallTimeout <= 0:
		return nil, errors.New("users: the call timeout must be positive")
	case opts.RetryMin <= 0 || opts.RetryMax < opts.RetryMin:
		return nil, errors.New("users: want 0 < RetryMin <= RetryMax")
	case opts.Poll < 0 || opts.Parallel < 0:
		return nil, errors.New("users: the poll interval and the parallelism must not be negative")
	}
	if opts.Poll == 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Parallel == 0 {
		opts.Parallel = DefaultParallel
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Deliverer{
		store: opts.Store, revoker: opts.Revoker, logger: opts.Logger,
		callTimeout: opts.CallTimeout, retryMin: opts.RetryMin, retryMax: opts.RetryMax,
		poll: opts.Poll, parallel: opts.Parallel, now: opts.Now,
		kick:    make(chan struct{}, 1),
		waiters: map[string]map[chan struct{}]struct{}{},
	}, nil
}

// Kick implements Deliveries.
func (d *Deliverer) Kick() {
	select {
	case d.kick <- struct{}{}:
	default: // a kick is already waiting
	}
}

// Watch implements Deliveries.
func (d *Deliverer) Watch(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.waiters[id] == nil {
		d.waiters[id] = map[chan struct{}]struct{}{}
	}
	d.waiters[id][ch] = struct{}{}
	return ch, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, ok := d.waiters[id][ch]; ok {
			delete(d.waiters[id], ch)
			if len(d.waiters[id]) == 0 {
				delete(d.waiters, id)
			}
		}
	}
}

// acknowledged wakes every watcher of user id.
func (d *Deliverer) acknowledged(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ch := range d.waiters[id] {
		close(ch)
	}
	delete(d.waiters, id)
}

// Run delivers due revocations until ctx ends, then waits for the
// deliveries in flight: a call that ctx's end cut short leaves its
// revocation due at once, for the next Run.
func (d *Deliverer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, d.parallel)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
		case <-timer.C:
		}
		ids, next, err := d.store.DueRevocations(ctx, d.now(), batch)
		d.outboxRead(ctx, err)
		for _, id := range ids {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				d.deliver(ctx, id)
			}()
		}
		wait := d.poll
		switch {
		case len(ids) == batch:
			wait = 0 // there may be more due
		case !next.IsZero():
			wait = min(wait, max(0, next.Sub(d.now())))
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// outboxRead logs the first failure to read the outbox of an outage, and
// its end.
func (d *Deliverer) outboxRead(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	d.mu.Lock()
	was := d.failing
	d.failing = err != nil
	d.mu.Unlock()
	switch {
	case err != nil && !was:
		d.logger.WarnContext(ctx, "revocation outbox cannot be read; retrying", "error", err)
	case err == nil && was:
		d.logger.InfoContext(ctx, "revocation outbox can be read again")
	}
}

// deliver makes one attempt at user id's pending revocation, if it is
// still pending and no other deliverer holds it, and records the outcome.
func (d *Deliverer) deliver(ctx context.Context, id string) {
	u, ok, err := d.store.ClaimRevocation(ctx, id, d.now(), d.callTimeout+claimSlack)
	if err != nil {
		if ctx.Err() == nil {
			d.logger.WarnContext(ctx, "revocation cannot be claimed", "user_id", id, "error", err)
		}
		return
	}
	if !ok {
		return
	}
	r := u.Revocation
	// The attempt continues the trace of the disable that asked for it.
	traced := tracecontext.Continue(ctx, propagation.MapCarrier{tracecontext.Header: r.Traceparent})
	call, cancel := context.WithTimeout(traced, d.callTimeout)
	revoked, err := d.revoker.RevokeAllSessions(call, id)
	cancel()

	// The outcome is recorded even when ctx has ended meanwhile.
	book, done := context.WithTimeout(context.WithoutCancel(traced), bookkeepingTimeout)
	defer done()
	switch {
	case err == nil:
		if err := d.store.AckRevocation(book, id, r.Pending, d.now(), revoked); err != nil {
			d.logger.WarnContext(book, "sessions revoked, but the acknowledgement is not stored; the revocation will be delivered again",
				"user_id", id, "generation", r.Pending, "error", err)
			return
		}
		d.acknowledged(id)
		d.logger.InfoContext(book, "sessions revoked", "user_id", id, "generation", r.Pending,
			"revoked_sessions", revoked, "failed_attempts", r.Attempts)
	case ctx.Err() != nil: // stopping: the call was cut short, not refused
		if err := d.store.ReleaseRevocation(book, id); err != nil {
			d.logger.WarnContext(book, "revocation left claimed; due again once the claim lapses", "user_id", id, "error", err)
		}
	default:
		attempts := r.Attempts + 1
		delay := d.backoff(attempts)
		d.logger.WarnContext(book, "revocation not delivered; retrying", "user_id", id, "generation", r.Pending,
			"failed_attempts", attempts, "retry_in_ms", delay.Milliseconds(), "error", err)
		if err := d.store.FailRevocation(book, id, r.Pending, attempts, cause(err), d.now().Add(delay)); err != nil {
			d.logger.WarnContext(book, "revocation failure not stored; due again once the claim lapses", "user_id", id, "error", err)
			return
		}
		// The next attempt is due after delay, which may be sooner than
		// Run's next look at the outbox (the poll interval): look then.
		time.AfterFunc(delay, d.Kick)
	}
}

// backoff is the delay before the attempt that follows failed attempt
// number attempts: RetryMin doubled per earlier failure, at most RetryMax,
// with ±20 % jitter (never above RetryMax).
func (d *Deliverer) backoff(attempts int) time.Duration {
	delay := d.retryMin
	for i := 1; i < attempts && delay < d.retryMax; i++ {
		delay *= 2
	}
	delay = min(delay, d.retryMax)
	jittered := time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
	return min(jittered, d.retryMax)
}

// cause is err's text, bounded, as kept with a revocation for
// administrators.
func cause(err error) string {
	s := err.Error()
	if len(s) > maxErrorLength {
		s = strings.ToValidUTF8(s[:maxErrorLength], "") + "..."
	}
	return s
}
