// Package redisstore keeps authsession's challenges, sessions and abuse
// counters in Redis (contracts/redis.md), using only plain commands and
// WATCH/MULTI/EXEC transactions (no scripts).
//
// Keys, under the configured prefix {p}:
//
//	{p}challenge:{challenge_id}           hash, private: email, code_hash, attempts, created_at, client_id (+ session_id, consumed_at on a tombstone)
//	{p}session:{session_id}               hash, public: session_id, user_id, email, status, created_at, expires_at
//	{p}refresh:{sha256_hex}               string, private: the session id of a current refresh token, "used:{session_id}:{used_at_ms}:{successor_sha256_hex}" once rotated
//	{p}session-refresh:{session_id}       string, private: the sha256_hex of the session's current refresh token
//	{p}user-sessions:{user_id}            set, private: the session ids of a user (expires with the last one)
//	{p}limit:{name}                       string, private: an abuse counter or the resend cooldown (auth.Limiter)
//
// Every key expires with what it describes. Revocations are published on
// the channel {p}session-events (public).
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/deadline"
	"galaxy/platform/apierror"
	"galaxy/platform/redisconn"
	"galaxy/platform/sessionkey"
)

// maxTxRetries bounds the optimistic transactions retried after a
// concurrent write to a watched key.
const maxTxRetries = 16

// SessionActive is the status of a live session.
const SessionActive = "active"

// NewClient returns a go-redis client for a redis:// or rediss:// URL
// (platform/redisconn). It speaks RESP2 unless the URL asks for another
// protocol. Timeouts and retries are kept short so a failing Redis is
// reported well within a caller's deadline; the URL's own settings
// (dial_timeout, read_timeout, max_retries, ...) win. Every command is
// bounded by the caller's deadline less the answer's margin.
func NewClient(rawURL string) (*redis.Client, error) {
	rdb, err := redisconn.NewClient(rawURL, redisconn.Settings{
		DialTimeout:        time.Second,
		ReadTimeout:        time.Second,
		WriteTimeout:       time.Second,
		PoolTimeout:        2 * time.Second,
		DialerRetryTimeout: 50 * time.Millisecond,
		MaxRetries:         1,
		DialerRetries:      2,
		Protocol:           2,
		URLWins:            true,
	})
	if err != nil {
		return nil, err
	}
	rdb.AddHook(budgetHook{})
	return rdb, nil
}

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

// Store implements auth.Store.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
}

var (
	_ auth.Store   = (*Store)(nil)
	_ auth.Limiter = (*Store)(nil)
)

// New returns a Store using rdb, with every key under prefix.
func New(rdb redis.UniversalClient, prefix string) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("redisstore: a redis client is required")
	}
	return &Store{rdb: rdb, prefix: prefix}, nil
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// ChallengeKey returns the key of a challenge.
func (s *Store) ChallengeKey(id string) string { return s.prefix + "challenge:" + id }

// SessionKey returns the key of a session (public: the gateway reads it).
func (s *Store) SessionKey(id string) string { return sessionkey.For(s.prefix, id) }

// RefreshKey returns the key of a refresh token hash.
func (s *Store) RefreshKey(hash string) string { return s.prefix + "refresh:" + hash }

// SessionRefreshKey returns the key naming a session's current refresh token.
func (s *Store) SessionRefreshKey(id string) string { return s.prefix + "session-refresh:" + id }

// UserSessionsKey returns the key of a user's session set.
func (s *Store) UserSessionsKey(userID string) string { return s.prefix + "user-sessions:" + userID }

// LimitKey returns the key of a limiter name.
func (s *Store) LimitKey(name string) string { return s.prefix + "limit:" + name }

// EventsChannel returns the channel of the revocation signal.
func (s *Store) EventsChannel() string { return s.prefix + "session-events" }

// Challenge fields (email and created_at are session fields too).
const (
	fieldEmail     = "email"
	fieldCodeHash  = "code_hash"
	fieldAttempts  = "attempts"
	fieldCreatedAt = "created_at"
	fieldClientID  = "client_id"
	// A tombstone's fields (fieldSessionID is a session field too).
	fieldConsumedAt = "consumed_at"
)

// CreateChallenge implements auth.Store.
func (s *Store) CreateChallenge(ctx context.Context, c auth.Challenge, expiresAt time.Time) error {
	key := s.ChallengeKey(c.ID)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key,
			fieldEmail, c.Email,
			fieldCodeHash, c.CodeHash,
			fieldAttempts, c.Attempts,
			fieldCreatedAt, c.CreatedAt.Unix(),
			fieldClientID, c.ClientID,
		)
		p.PExpireAt(ctx, key, expiresAt)
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Challenge implements auth.Store.
func (s *Store) Challenge(ctx context.Context, id string) (auth.Challenge, error) {
	c, err := s.readChallenge(ctx, s.rdb, id)
	return c, storeError(err)
}

// readChallenge reads challenge id through c: auth.ErrChallengeNotFound
// when it is gone.
func (s *Store) readChallenge(ctx context.Context, c redis.Cmdable, id string) (auth.Challenge, error) {
	m, err := c.HGetAll(ctx, s.ChallengeKey(id)).Result()
	if err != nil {
		return auth.Challenge{}, err
	}
	if len(m) == 0 {
		return auth.Challenge{}, auth.ErrChallengeNotFound
	}
	attempts, err1 := strconv.Atoi(m[fieldAttempts])
	created, err2 := strconv.ParseInt(m[fieldCreatedAt], 10, 64)
	var consumed int64
	var err3 error
	if m[fieldSessionID] != "" {
		consumed, err3 = strconv.ParseInt(m[fieldConsumedAt], 10, 64)
	}
	if err := errors.Join(err1, err2, err3); err != nil || m[fieldCodeHash] == "" || m[fieldEmail] == "" {
		return auth.Challenge{}, apierror.As(fmt.Errorf("redisstore: malformed challenge record %s: %v", id, err))
	}
	ch := auth.Challenge{
		ID:        id,
		Email:     m[fieldEmail],
		CodeHash:  m[fieldCodeHash],
		Attempts:  attempts,
		ClientID:  m[fieldClientID],
		CreatedAt: time.Unix(created, 0),
		SessionID: m[fieldSessionID],
	}
	if ch.SessionID != "" {
		ch.ConsumedAt = time.UnixMilli(consumed)
	}
	return ch, nil
}

// attempts reads the attempt count of challenge id through c.
func (s *Store) attempts(ctx context.Context, c redis.Cmdable, id string) (int, error) {
	v, err := c.HGet(ctx, s.ChallengeKey(id), fieldAttempts).Result()
	if errors.Is(err, redis.Nil) {
		return 0, auth.ErrChallengeNotFound
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, apierror.As(fmt.Errorf("redisstore: malformed attempts of challenge %s: %w", id, err))
	}
	return n, nil
}

// DeleteChallenge implements auth.Store.
func (s *Store) DeleteChallenge(ctx context.Context, id string) error {
	if err := s.rdb.Del(ctx, s.ChallengeKey(id)).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// ReserveAttempt implements auth.Store. It watches the challenge: of
// concurrent reservations only one commits on a given count, the others
// retry and see the count it left, so no two reservations get the same
// attempt and none gets one past maxAttempts. HINCRBY runs only while the
// watched challenge exists, so it never creates a key. A refused
// reservation writes nothing, so it cannot burn a challenge whose right
// code is still on its way to being used.
func (s *Store) ReserveAttempt(ctx context.Context, id string, maxAttempts int) (auth.Challenge, error) {
	key := s.ChallengeKey(id)
	var c auth.Challenge
	err := s.watch(ctx, func(tx *redis.Tx) error {
		var err error
		c, err = s.readChallenge(ctx, tx, id)
		if err != nil {
			return err
		}
		if c.Attempts >= maxAttempts {
			return auth.ErrChallengeNotFound
		}
		var n *redis.IntCmd
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			n = p.HIncrBy(ctx, key, fieldAttempts, 1)
			return nil
		})
		if err != nil {
			return err
		}
		c.Attempts = int(n.Val())
		return nil
	}, key)
	if err != nil {
		return auth.Challenge{}, err
	}
	return c, nil
}

// ReleaseAttempt implements auth.Store.
func (s *Store) ReleaseAttempt(ctx context.Context, id string) error {
	key := s.ChallengeKey(id)
	return s.watch(ctx, func(tx *redis.Tx) error {
		n, err := s.attempts(ctx, tx, id)
		if errors.Is(err, auth.ErrChallengeNotFound) || (err == nil && n <= 0) {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HIncrBy(ctx, key, fieldAttempts, -1)
			return nil
		})
		return err
	}, key)
}

// ConsumeChallenge implements auth.Store.
func (s *Store) ConsumeChallenge(ctx context.Context, id string, maxAttempts int) error {
	return s.consume(ctx, id, maxAttempts, time.Time{}, func(redis.Pipeliner) {})
}

// ConsumeChallengeForSession implements auth.Store.
func (s *Store) ConsumeChallengeForSession(ctx context.Context, id string, maxAttempts int, ns auth.NewSession) error {
	sess := ns.Session
	sessionKey := s.SessionKey(sess.ID)
	userKey := s.UserSessionsKey(sess.UserID)
	challengeKey := s.ChallengeKey(id)
	var tombstoneUntil time.Time
	if ns.RetryUntil.After(ns.ConsumedAt) {
		tombstoneUntil = ns.RetryUntil
	}
	return s.consume(ctx, id, maxAttempts, tombstoneUntil, func(p redis.Pipeliner) {
		if !tombstoneUntil.IsZero() {
			// The tombstone keeps the code hash and the attempts counted,
			// which go on counting the codes compared against it, and
			// names the session.
			p.HSet(ctx, challengeKey,
				fieldSessionID, sess.ID,
				fieldConsumedAt, ns.ConsumedAt.UnixMilli(),
			)
			p.HDel(ctx, challengeKey, fieldClientID)
			p.PExpireAt(ctx, challengeKey, tombstoneUntil)
		}
		p.HSet(ctx, sessionKey,
			fieldSessionID, sess.ID,
			fieldUserID, sess.UserID,
			fieldEmail, sess.Email,
			fieldStatus, SessionActive,
			fieldCreatedAt, sess.CreatedAt.Unix(),
			fieldExpiresAt, sess.ExpiresAt.Unix(),
		)
		p.ExpireAt(ctx, sessionKey, sess.ExpiresAt)
		s.writeRefresh(ctx, p, sess, ns.RefreshTokenHash)
		p.SAdd(ctx, userKey, sess.ID)
		// The set lives as long as its longest-lived session: NX gives a new
		// set its expiry and GT only ever extends it, so a session that ends
		// sooner than an older one (the session lifetime was lowered) never
		// cuts the older one's id short.
		at := sess.ExpiresAt.Unix()
		p.Do(ctx, "EXPIREAT", userKey, at, "NX")
		p.Do(ctx, "EXPIREAT", userKey, at, "GT")
	})
}

// consume deletes challenge id, or keeps it as a tombstone when
// tombstoneUntil is set (writes turns it into one), and queues writes in the
// same transaction, provided the challenge still exists, is no tombstone,
// when the transaction commits and has counted no more than maxAttempts;
// one that has counted more is burned instead, and reported as not found.
func (s *Store) consume(ctx context.Context, id string, maxAttempts int, tombstoneUntil time.Time, writes func(redis.Pipeliner)) error {
	key := s.ChallengeKey(id)
	return s.watch(ctx, func(tx *redis.Tx) error {
		c, err := s.readChallenge(ctx, tx, id)
		if err != nil {
			return err
		}
		if c.SessionID != "" {
			return auth.ErrChallengeNotFound // consumed already
		}
		tooMany := c.Attempts > maxAttempts
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if tooMany || tombstoneUntil.IsZero() {
				p.Del(ctx, key)
			}
			if !tooMany {
				writes(p)
			}
			return nil
		})
		if err == nil && tooMany {
			return auth.ErrChallengeNotFound
		}
		return err
	}, key)
}

// setUntil queues SET key value, expiring at at.
func setUntil(ctx context.Context, p redis.Pipeliner, key string, value any, at time.Time) {
	p.Set(ctx, key, value, 0)
	p.ExpireAt(ctx, key, at)
}

// watch runs fn in a WATCH on keys and retries it when a concurrent write to
// one of them aborted its transaction. Redis failures become
// DEPENDENCY_UNAVAILABLE.
func (s *Store) watch(ctx context.Context, fn func(*redis.Tx) error, keys ...string) error {
	for range maxTxRetries {
		err := s.rdb.Watch(ctx, fn, keys...)
		if !errors.Is(err, redis.TxFailedErr) {
			return storeError(err)
		}
	}
	return unavailable(fmt.Errorf("transaction on %v aborted %d times by concurrent writes", keys, maxTxRetries))
}

// storeError keeps nil and coded errors, and the caller's own context
// errors (its deadline passed, or it went away: nothing to blame Redis
// for), and reports anything else as a failure of Redis.
func storeError(err error) error {
	var ae *apierror.Error
	if err == nil || errors.As(err, &ae) || isContextError(err) {
		return err
	}
	return unavailable(err)
}

func isContextError(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

func unavailable(err error) error {
	if isContextError(err) {
		return err
	}
	return apierror.Dependency("redis", err)
}
