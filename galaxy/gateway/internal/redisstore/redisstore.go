// Package redisstore reads the session records authsession writes to Redis
// (contracts/redis.md). The gateway only reads; every read is bounded by a
// timeout and a failure is reported as DEPENDENCY_UNAVAILABLE (redis).
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"galaxy/gateway/internal/gateway"
	"galaxy/platform/apierror"
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

// Options turns a Redis URL into client options for a gateway connection:
// no CLIENT SETINFO or maintenance handshake, every network step bounded by
// timeout, and at most one retry so a dead Redis fails fast.
func Options(url string, timeout time.Duration) (*redis.Options, error) {
	if timeout <= 0 {
		return nil, errors.New("redisstore: timeout must be positive")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	opts.DialTimeout = timeout
	opts.ReadTimeout = timeout
	opts.WriteTimeout = timeout
	opts.PoolTimeout = timeout
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = 1
	opts.DialerRetries = 1
	return opts, nil
}

// New returns a Store. It does not connect: Redis may come up later, and
// until it does each read fails within the timeout.
func New(cfg Config) (*Store, error) {
	opts, err := Options(cfg.URL, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	return &Store{client: redis.NewClient(opts), prefix: cfg.KeyPrefix, timeout: cfg.Timeout}, nil
}

// SetLogger sends the Redis client's own (process-wide) log lines to logger
// instead of plain text on stderr.
func SetLogger(logger *slog.Logger) {
	redis.SetLogger(redisLogger{logger.With("component", "redis")})
}

type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, fmt.Sprintf(format, v...))
}

// Close releases the store's connections.
func (s *Store) Close() error { return s.client.Close() }

// SessionKey is the key of session id's record.
func SessionKey(prefix, id string) string { return prefix + "session:" + id }

// Session returns session id's record; found is false when there is none.
// A record whose fields cannot be read is treated as absent: it cannot be
// shown to be live.
func (s *Store) Session(ctx context.Context, id string) (gateway.Session, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	fields, err := s.client.HGetAll(ctx, SessionKey(s.prefix, id)).Result()
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
