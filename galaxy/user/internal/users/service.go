package users

import (
	"context"
	"errors"
	"fmt"
	"time"

	"galaxy/platform/apierror"
	"galaxy/platform/email"
	"galaxy/platform/tracecontext"
)

// Deliveries is what the Service needs of the revocation deliverer
// (Deliverer): a nudge to deliver what is due now, and word of each
// acknowledged revocation.
type Deliveries interface {
	// Kick makes the deliverer look for due revocations at once.
	Kick()
	// Watch returns a channel closed once a revocation of user id is
	// acknowledged here, and a function that stops watching.
	Watch(id string) (<-chan struct{}, func())
}

// Options configure a Service.
type Options struct {
	Store      Store
	Deliveries Deliveries
	// RevocationWait is how long a disable (or an enable that finds the
	// revocation pending) waits for authsession to acknowledge the
	// revocation before it answers that it is still pending.
	RevocationWait time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service is the user service's domain.
type Service struct {
	store      Store
	deliveries Deliveries
	wait       time.Duration
	now        func() time.Time
}

// NewService checks opts and returns a Service.
func NewService(opts Options) (*Service, error) {
	switch {
	case opts.Store == nil:
		return nil, errors.New("users: a store is required")
	case opts.Deliveries == nil:
		return nil, errors.New("users: a deliverer is required")
	case opts.RevocationWait <= 0:
		return nil, errors.New("users: the revocation wait must be positive")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{store: opts.Store, deliveries: opts.Deliveries, wait: opts.RevocationWait, now: opts.Now}, nil
}

// Resolve returns the user owning address, creating an active one on first
// sight (created is then true). address is normalised first
// (contracts/email.md): its normal form names the user, and an address the
// policy refuses is INVALID_ARGUMENT, with nothing stored. A normalised
// address normalises to itself, so what authsession sends, already
// normalised, names the user it names at authsession.
func (s *Service) Resolve(ctx context.Context, address string) (u User, created bool, err error) {
	addr, err := email.Normalize(address)
	if err != nil {
		return User{}, false, err
	}
	now := s.now()
	return s.store.Resolve(ctx, addr, User{
		ID: NewID(), Email: addr, Status: Active, Generation: 1, CreatedAt: now, StatusChangedAt: now,
	})
}

// User returns user id; NOT_FOUND for an id that names no user.
func (s *Service) User(ctx context.Context, id string) (User, error) {
	if !ValidID(id) {
		return User{}, ErrNotFound
	}
	return s.store.User(ctx, id)
}

// Disable disables user id and has every session of the user revoked at
// authsession. The disable and the revocation it asks for are stored
// together first, so once Disable has stored them nothing is lost whatever
// fails next: the revocation is delivered, and retried, until authsession
// acknowledges it. Disable waits up to the revocation wait for that and
// returns the user as it then is: Revocation.Pending is 0 once the
// revocation is done. Disabling a disabled user changes nothing (and
// waits, while its revocation is pending).
func (s *Service) Disable(ctx context.Context, id string) (User, error) {
	if !ValidID(id) {
		return User{}, ErrNotFound
	}
	acked, stop := s.deliveries.Watch(id)
	defer stop()
	u, err := s.store.Disable(ctx, id, s.now(), tracecontext.Traceparent(ctx))
	if err != nil || u.Revocation.Pending == 0 {
		return u, err
	}
	return s.awaitRevocation(ctx, id, acked)
}

// Enable enables user id again. A user whose disable's revocation is still
// pending is not enabled until authsession has acknowledged it: delivered
// after the enable, it would end the sessions the user opens once enabled
// again; dropped, it would leave alive the sessions the disable was to end.
// Enable waits up to the revocation wait for it and otherwise answers
// DEPENDENCY_UNAVAILABLE (authsession), changing nothing.
func (s *Service) Enable(ctx context.Context, id string) (User, error) {
	if !ValidID(id) {
		return User{}, ErrNotFound
	}
	acked, stop := s.deliveries.Watch(id)
	defer stop()
	u, err := s.store.User(ctx, id)
	if err != nil {
		return User{}, err
	}
	if u.Revocation.Pending != 0 {
		if u, err = s.awaitRevocation(ctx, id, acked); err != nil {
			return User{}, err
		}
	}
	if u.Revocation.Pending == 0 {
		u, err = s.store.Enable(ctx, id, s.now())
	}
	if u.Revocation.Pending != 0 || errors.Is(err, ErrRevocationPending) {
		return User{}, apierror.Dependency("authsession",
			fmt.Errorf("user %s: the revocation of its sessions is still pending; enable it once that is done: %w", id, ErrRevocationPending))
	}
	return u, err
}

// awaitRevocation has the deliverer look at once and waits until a
// revocation of user id is acknowledged here (acked), the revocation wait
// ends or the caller leaves; then it reads the user again.
func (s *Service) awaitRevocation(ctx context.Context, id string, acked <-chan struct{}) (User, error) {
	s.deliveries.Kick()
	timer := time.NewTimer(s.wait)
	defer timer.Stop()
	select {
	case <-acked:
	case <-timer.C:
	case <-ctx.Done():
		return User{}, ctx.Err()
	}
	return s.store.User(ctx, id)
}
