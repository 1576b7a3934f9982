// Package redisstore reads the session records authsession writes to Redis
// (contracts/redis.md). The gateway only reads; every read is bounded by a
// timeout and a failure is reported as DEPENDENCY_UNAVAILABLE (redis).
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"galaxy/gateway/internal/gateway"
	"galaxy/platform/apierror"
	"galaxy/platform/redisconn"
	"galaxy/platform/sessionkey"
)

// dependency names Redis in DEPENDENCY_UNAVAILABLE errors.
const dependency = "redis"

// Config configures a Store.
type Config struct {
	URL       string        // redis://[user:pass@]host:port/db
	KeyPrefix string        // prefix of every key, e.g. "galaxy:"
	Timeout   time.Duration // bound of each read, connection set-up included
}

// Store reads session records.
type Store struct {
	client  *redis.Client
	prefix  string
	timeout time.Duration
}

// New returns a Store. It does not connect: Redis may come up later, and
// until it does each read fails within the timeout. Every network step of
// the client is bounded by the timeout, whatever the URL says, with at most
// one retry so a dead Redis fails fast.
func New(cfg Config) (*Store, error) {
	if cfg.Timeout <= 0 {
		return nil, errors.New("redisstore: timeout must be positive")
	}
	client, err := redisconn.NewClient(cfg.URL, redisconn.Settings{
		DialTimeout:   cfg.Timeout,
		ReadTimeout:   cfg.Timeout,
		WriteTimeout:  cfg.Timeout,
		PoolTimeout:   cfg.Timeout,
		MaxRetries:    1,
		DialerRetries: 1,
	})
	if err != nil {
		return nil, err
	}
	return &Store{client: client, prefix: cfg.KeyPrefix, timeout: cfg.Timeout}, nil
}

// Close releases the store's connections.
func (s *Store) Close() error { return s.client.Close() }

// Session returns session id's record; found is false when there is none.
// A record whose fields cannot be read is treated as absent: it cannot be
// shown to be live.
func (s *Store) Session(ctx context.Context, id string) (gateway.Session, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	fields, err := s.client.HGetAll(ctx, sessionkey.For(s.prefix, id)).Result()
	if err != nil {
		return gateway.Session{}, false, apierror.Dependency(dependency, err)
	}
	if len(fields) == 0 {
		return gateway.Session{}, false, nil
	}
	sess, err := parseSession(id, fields)
	if err != nil {
		return gateway.Session{}, false, nil
	}
	return sess, true, nil
}

// Ping checks that Redis answers within the timeout.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.client.Ping(ctx).Err(); err != nil {
		return apierror.Dependency(dependency, err)
	}
	return nil
}

// parseSession reads the record stored under session id. Liveness needs
// expires_at; created_at is informative and left zero when unreadable.
func parseSession(id string, f map[string]string) (gateway.Session, error) {
	expires, err := unixSeconds(f["expires_at"])
	if err != nil {
		return gateway.Session{}, fmt.Errorf("expires_at: %w", err)
	}
	created, _ := unixSeconds(f["created_at"])
	return gateway.Session{
		ID:        id,
		UserID:    f["user_id"],
		Email:     f["email"],
		Status:    f["status"],
		CreatedAt: created,
		ExpiresAt: expires,
	}, nil
}

func unixSeconds(v string) (time.Time, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(n, 0).UTC(), nil
}
