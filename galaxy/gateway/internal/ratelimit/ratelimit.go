// Package ratelimit limits calls per client with one token bucket each
// (golang.org/x/time/rate). Memory stays bounded: a bucket left unused long
// enough to have refilled is forgotten, since a new one would be identical,
// and beyond a maximum number of clients the least recently seen is forgotten.
package ratelimit

import (
	"container/list"
	"errors"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxClients bounds how many clients' buckets a Limiter keeps.
const DefaultMaxClients = 1 << 16

// Limiter keeps a token bucket per client key. It is safe for concurrent use.
type Limiter struct {
	limit rate.Limit
	burst int
	// fill is how long an empty bucket takes to fill up: a bucket unused for
	// this long is full again, the same as a new one.
	fill       time.Duration
	maxClients int
	now        func() time.Time

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket
	recent  *list.List               // most recently seen first
}

type bucket struct {
	key  string
	lim  *rate.Limiter
	seen time.Time
}

// Option customises a Limiter.
type Option func(*Limiter)

// WithClock sets the limiter's clock (tests).
func WithClock(now func() time.Time) Option { return func(l *Limiter) { l.now = now } }

// WithMaxClients bounds the number of buckets kept (DefaultMaxClients).
func WithMaxClients(n int) Option { return func(l *Limiter) { l.maxClients = n } }

// New returns a Limiter whose buckets refill at perMinute tokens a minute and
// hold at most burst tokens; a new client starts with a full bucket.
func New(perMinute, burst int, opts ...Option) (*Limiter, error) {
	switch {
	case perMinute < 1:
		return nil, errors.New("ratelimit: the rate must be at least 1 a minute")
	case burst < 1:
		return nil, errors.New("ratelimit: the burst must be at least 1")
	}
	l := &Limiter{
		limit:      rate.Limit(float64(perMinute) / 60),
		burst:      burst,
		fill:       time.Duration(math.Ceil(float64(burst) * float64(time.Minute) / float64(perMinute))),
		maxClients: DefaultMaxClients,
		now:        time.Now,
		buckets:    map[string]*list.Element{},
		recent:     list.New(),
	}
	for _, opt := range opts {
		opt(l)
	}
	if l.maxClients < 1 {
		return nil, errors.New("ratelimit: the client bound must be at least 1")
	}
	return l, nil
}

// Allow takes a token from key's bucket. When the bucket is empty it takes
// nothing and reports how long until a token will be there.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetIdle(now)
	b := l.bucket(key, now)
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused call costs nothing
		return false, d
	}
	return true, 0
}

// Clients is the number of buckets kept.
func (l *Limiter) Clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// bucket returns key's bucket, seen at now, creating it if need be.
func (l *Limiter) bucket(key string, now time.Time) *bucket {
	if e, ok := l.buckets[key]; ok {
		b := e.Value.(*bucket)
		b.seen = now
		l.recent.MoveToFront(e)
		return b
	}
	for len(l.buckets) >= l.maxClients {
		l.forget(l.recent.Back())
	}
	b := &bucket{key: key, lim: rate.NewLimiter(l.limit, l.burst), seen: now}
	l.buckets[key] = l.recent.PushFront(b)
	return b
}

// forgetIdle drops the buckets unused for the fill time: they are full.
func (l *Limiter) forgetIdle(now time.Time) {
	for e := l.recent.Back(); e != nil && now.Sub(e.Value.(*bucket).seen) >= l.fill; e = l.recent.Back() {
		l.forget(e)
	}
}

func (l *Limiter) forget(e *list.Element) {
	delete(l.buckets, l.recent.Remove(e).(*bucket).key)
}
