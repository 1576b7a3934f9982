// Package redisstore keeps the user service's users and its revocation
// outbox in Redis (contracts/user-storage.md), using only plain commands
// and WATCH/MULTI/EXEC transactions (no scripts).
//
// Keys, under the configured prefix {p}, all private to the user service:
//
//	{p}user:{id}                  hash: the user (id, email, status, generation, created_at, status_changed_at) and its revocation (revocation_*)
//	{p}email:{email}              string: the id of the user owning a normalised email
//	{p}revocations                sorted set: the ids of users whose revocation is pending, scored by when the next attempt is due (unix ms)
//	{p}revocation-claim:{id}      string: present while a deliverer holds the delivery of user id's revocation
//
// No key expires but the claims: a user is kept until it is deleted by
// hand, and a pending revocation until authsession acknowledges it.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"galaxy/platform/apierror"
	"galaxy/platform/redisconn"
	"galaxy/user/internal/users"
)

// NewClient returns a go-redis client for a redis:// or rediss:// URL
// (platform/redisconn), speaking RESP2 unless the URL asks for another
// protocol, each network step bounded by timeout so a failing Redis is
// reported well within a caller's own timeout; the URL's own settings
// (dial_timeout, read_timeout, ...) win.
func NewClient(rawURL string, timeout time.Duration) (*redis.Client, error) {
	return redisconn.NewClient(rawURL, redisconn.Settings{
		DialTimeout:        timeout,
		ReadTimeout:        timeout,
		WriteTimeout:       timeout,
		PoolTimeout:        timeout,
		DialerRetryTimeout: 50 * time.Millisecond,
		MaxRetries:         1,
		DialerRetries:      2,
		Protocol:           2,
		URLWins:            true,
	})
}

// Store implements users.Store.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ users.Store = (*Store)(nil)

// New returns a Store using rdb, with every key under prefix.
func New(rdb redis.UniversalClient, prefix string) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: a redis client is required")
	}
	return &Store{rdb: rdb, prefix: prefix}, nil
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	return storeError(s.rdb.Ping(ctx).Err())
}

// UserKey returns the key of a user.
func (s *Store) UserKey(id string) string { return s.prefix + "user:" + id }

// EmailKey returns the key naming the user of a normalised email.
func (s *Store) EmailKey(email string) string { return s.prefix + "email:" + email }

// RevocationsKey returns the key of the revocation outbox.
func (s *Store) RevocationsKey() string { return s.prefix + "revocations" }

// ClaimKey returns the key of the claim on a user's revocation.
func (s *Store) ClaimKey(id string) string { return s.prefix + "revocation-claim:" + id }

// User fields.
const (
	fieldID              = "id"
	fieldEmail           = "email"
	fieldStatus          = "status"
	fieldGeneration      = "generation"
	fieldCreatedAt       = "created_at"
	fieldStatusChangedAt = "status_changed_at"

	fieldPending     = "revocation_pending"
	fieldAttempts    = "revocation_attempts"
	fieldError       = "revocation_error"
	fieldNextAt      = "revocation_next_at"
	fieldTraceparent = "revocation_traceparent"
	fieldDone        = "revocation_done"
	fieldDoneAt      = "revocation_done_at"
	fieldRevoked     = "revocation_revoked"
)

// pendingFields are the fields of a pending revocation.
var pendingFields = []string{fieldPending, fieldAttempts, fieldError, fieldNextAt, fieldTraceparent}

// Resolve implements users.Store. It watches the email's key: of
// concurrent creations of one email the first to commit wins, and the
// others, retried, find its user.
func (s *Store) Resolve(ctx context.Context, email string, candidate users.User) (users.User, bool, error) {
	emailKey, userKey := s.EmailKey(email), s.UserKey(candidate.ID)
	candidate.Email = email
	candidate.CreatedAt, candidate.StatusChangedAt = ms(candidate.CreatedAt), ms(candidate.StatusChangedAt)
	var u users.User
	var created bool
	err := s.watch(ctx, func(tx *redis.Tx) error {
		id, err := tx.Get(ctx, emailKey).Result()
		switch {
		case err == nil:
			created = false
			u, err = s.readUser(ctx, tx, id)
			if errors.Is(err, users.ErrNotFound) {
				return apierror.As(fmt.Errorf("redisstore: %s names user %s, which does not exist", emailKey, id))
			}
			return err
		case !errors.Is(err, redis.Nil):
			return err
		}
		// 128 random bits do not collide; were they to, no user is
		// overwritten.
		taken, err := tx.Exists(ctx, userKey).Result()
		if err != nil {
			return err
		}
		if taken != 0 {
			return apierror.As(fmt.Errorf("redisstore: new user id %s is taken", candidate.ID))
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, emailKey, candidate.ID, 0)
			p.HSet(ctx, userKey,
				fieldID, candidate.ID,
				fieldEmail, candidate.Email,
				fieldStatus, string(candidate.Status),
				fieldGeneration, candidate.Generation,
				fieldCreatedAt, candidate.CreatedAt.UnixMilli(),
				fieldStatusChangedAt, candidate.StatusChangedAt.UnixMilli(),
			)
			return nil
		})
		if err == nil {
			u, created = candidate, true
		}
		return err
	}, emailKey, userKey)
	if err != nil {
		return users.User{}, false, err
	}
	return u, created, nil
}

// User implements users.Store.
func (s *Store) User(ctx context.Context, id string) (users.User, error) {
	u, err := s.readUser(ctx, s.rdb, id)
	return u, storeError(err)
}

// Disable implements users.Store.
func (s *Store) Disable(ctx context.Context, id string, at time.Time, traceparent string) (users.User, error) {
	key := s.UserKey(id)
	at = ms(at)
	var u users.User
	err := s.watch(ctx, func(tx *redis.Tx) error {
		var err error
		if u, err = s.readUser(ctx, tx, id); err != nil || u.Status == users.Disabled {
			return err
		}
		u.Status, u.Generation, u.StatusChangedAt = users.Disabled, u.Generation+1, at
		u.Revocation.Pending, u.Revocation.Attempts, u.Revocation.LastError = u.Generation, 0, ""
		u.Revocation.NextAttemptAt, u.Revocation.Traceparent = at, traceparent
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, key,
				fieldStatus, string(u.Status),
				fieldGeneration, u.Generation,
				fieldStatusChangedAt, at.UnixMilli(),
				fieldPending, u.Generation,
				fieldAttempts, 0,
				fieldNextAt, at.UnixMilli(),
				fieldTraceparent, traceparent,
			)
			p.HDel(ctx, key, fieldError)
			p.ZAdd(ctx, s.RevocationsKey(), redis.Z{Score: float64(at.UnixMilli()), Member: id})
			return nil
		})
		return err
	}, key)
	if err != nil {
		return users.User{}, err
	}
	return u, nil
}

// Enable implements users.Store.
func (s *Store) Enable(ctx context.Context, id string, at time.Time) (users.User, error) {
	key := s.UserKey(id)
	at = ms(at)
	var u users.User
	err := s.watch(ctx, func(tx *redis.Tx) error {
		var err error
		switch u, err = s.readUser(ctx, tx, id); {
		case err != nil || u.Status == users.Active:
			return err
		case u.Revocation.Pending != 0:
			return users.ErrRevocationPending
		}
		u.Status, u.Generation, u.StatusChangedAt = users.Active, u.Generation+1, at
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, key, fieldStatus, string(u.Status), fieldGeneration, u.Generation, fieldStatusChangedAt, at.UnixMilli())
			return nil
		})
		return err
	}, key)
	if err != nil {
		return users.User{}, err
	}
	return u, nil
}

// readUser reads user id through c: users.ErrNotFound when it is absent.
func (s *Store) readUser(ctx context.Context, c redis.Cmdable, id string) (users.User, error) {
	m, err := c.HGetAll(ctx, s.UserKey(id)).Result()
	if err != nil {
		return users.User{}, err
	}
	if len(m) == 0 {
		return users.User{}, users.ErrNotFound
	}
	r := fieldReader{m: m}
	u := users.User{
		ID:              m[fieldID],
		Email:           m[fieldEmail],
		Status:          users.Status(m[fieldStatus]),
		Generation:      r.int(fieldGeneration),
		CreatedAt:       r.time(fieldCreatedAt),
		StatusChangedAt: r.time(fieldStatusChangedAt),
		Revocation: users.Revocation{
			Pending:       r.int(fieldPending),
			Attempts:      int(r.int(fieldAttempts)),
			LastError:     m[fieldError],
			NextAttemptAt: r.time(fieldNextAt),
			Traceparent:   m[fieldTraceparent],
			Done:          r.int(fieldDone),
			DoneAt:        r.time(fieldDoneAt),
			Revoked:       int(r.int(fieldRevoked)),
		},
	}
	if r.err != nil || u.ID != id || u.Email == "" || (u.Status != users.Active && u.Status != users.Disabled) || u.Generation < 1 {
		return users.User{}, apierror.As(fmt.Errorf("redisstore: malformed user record %s: %v", id, r.err))
	}
	return u, nil
}

// fieldReader parses the numeric fields of a record, remembering the
// first malformed one; an absent field is zero.
type fieldReader struct {
	m   map[string]string
	err error
}

func (r *fieldReader) int(field string) int64 {
	v, ok := r.m[field]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("field %s: %w", field, err)
	}
	return n
}

func (r *fieldReader) time(field string) time.Time {
	if _, ok := r.m[field]; !ok {
		return time.Time{}
	}
	return time.UnixMilli(r.int(field))
}

// ms is t to the millisecond, as stored.
func ms(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()) }

// watch runs fn in a WATCH on keys, again when a concurrent write to one
// of them aborted its transaction (redisconn.Watch). Redis failures become
// DEPENDENCY_UNAVAILABLE.
func (s *Store) watch(ctx context.Context, fn func(*redis.Tx) error, keys ...string) error {
	return storeError(redisconn.Watch(ctx, s.rdb, fn, keys...))
}

// storeError keeps nil and coded errors, users.ErrRevocationPending and the
// caller's own context errors (nothing to blame Redis for), and reports
// anything else as a failure of Redis.
func storeError(err error) error {
	var ae *apierror.Error
	if err == nil || errors.As(err, &ae) || errors.Is(err, users.ErrRevocationPending) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	return apierror.Dependency("redis", err)
}
