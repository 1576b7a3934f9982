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
//	{p}revoke-all-mark                    string, private: a counter raised by every RevokeAllSessions (auth.Store.MarkRevokeAll)
//	{p}user-revoke-all:{user_id}          string, private: the mark of the user's latest RevokeAllSessions
//
// Every key but the revoke-all mark expires with what it describes.
// Revocations are published on
// the channel {p}session-events (public).
package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"galaxy/authsession/internal/auth"
	"galaxy/platform/apierror"
	"galaxy/platform/redisconn"
	"galaxy/platform/sessionkey"
)

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

// RevokeAllMarkKey returns the key of the revoke-all mark, a counter.
func (s *Store) RevokeAllMarkKey() string { return s.prefix + "revoke-all-mark" }

// UserRevokeAllKey returns the key of the mark of a user's latest
// revoke-all.
func (s *Store) UserRevokeAllKey(userID string) string { return s.prefix + "user-revoke-all:" + userID }

// LimitKey returns the key of a limiter name.
func (s *Store) LimitKey(name string) string { return s.prefix + "limit:" + name }

// EventsChannel returns the channel of the revocation signal.
func (s *Store) EventsChannel() string { return s.prefix + "session-events" }

// setUntil queues SET key value, expiring at at.
func setUntil(ctx context.Context, p redis.Pipeliner, key string, value any, at time.Time) {
	p.Set(ctx, key, value, 0)
	p.ExpireAt(ctx, key, at)
}

// watch runs fn in a WATCH on keys, again when a concurrent write to one
// of them aborted its transaction (redisconn.Watch). Redis failures become
// DEPENDENCY_UNAVAILABLE.
func (s *Store) watch(ctx context.Context, fn func(*redis.Tx) error, keys ...string) error {
	return storeError(redisconn.Watch(ctx, s.rdb, fn, keys...))
}

// storeError keeps nil and coded errors, auth.ErrRevokedMeanwhile, and
// the caller's own context errors (its deadline passed, or it went away:
// nothing to blame Redis for), and reports anything else as a failure of
// Redis.
func storeError(err error) error {
	var ae *apierror.Error
	if err == nil || errors.As(err, &ae) || errors.Is(err, auth.ErrRevokedMeanwhile) || isContextError(err) {
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
