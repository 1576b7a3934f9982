// Package redisconn builds the go-redis clients of the galaxy services: one
// URL check, one set of connection options that works against any
// Redis-compatible server, and one route for the library's own log lines.
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Settings bound a client's network steps and retries. A zero field keeps
// go-redis's own default.
type Settings struct {
	DialTimeout        time.Duration
	ReadTimeout        time.Duration
	WriteTimeout       time.Duration
	PoolTimeout        time.Duration
	DialerRetryTimeout time.Duration
	MaxRetries         int
	DialerRetries      int
	// Protocol is the RESP version to speak (2 or 3); 0 keeps go-redis's.
	Protocol int
	// URLWins lets the URL's own settings (dial_timeout, read_timeout,
	// max_retries, protocol, ...) override these; otherwise these win.
	URLWins bool
}

// CheckURL accepts what the Redis client accepts: a redis:// or rediss://
// URL. Its errors say what is wrong in general terms: the URL may hold a
// password, and so may go-redis's parse error, which quotes it, so they
// never quote the URL or any part of it.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("not a valid URL (want redis://[user:password@]host:port/db)")
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return errors.New("scheme must be redis or rediss")
	}
	if _, err := redis.ParseURL(raw); err != nil {
		return errors.New("not a valid Redis URL (want redis://[user:password@]host:port/db, db a number)")
	}
	return nil
}

// Options turns a Redis URL into client options: no CLIENT SETINFO and no
// maintenance-notification handshake (so any Redis-compatible server will
// do), the caller's context deadline honoured, and s applied.
func Options(rawURL string, s Settings) (*redis.Options, error) {
	if err := CheckURL(rawURL); err != nil {
		return nil, fmt.Errorf("redisconn: %w", err)
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil { // CheckURL accepted it; never quote the parse error
		return nil, errors.New("redisconn: not a valid Redis URL")
	}
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	opts.ContextTimeoutEnabled = true
	set(&opts.DialTimeout, s.DialTimeout, s.URLWins)
	set(&opts.ReadTimeout, s.ReadTimeout, s.URLWins)
	set(&opts.WriteTimeout, s.WriteTimeout, s.URLWins)
	set(&opts.PoolTimeout, s.PoolTimeout, s.URLWins)
	set(&opts.DialerRetryTimeout, s.DialerRetryTimeout, s.URLWins)
	set(&opts.MaxRetries, s.MaxRetries, s.URLWins)
	set(&opts.DialerRetries, s.DialerRetries, s.URLWins)
	set(&opts.Protocol, s.Protocol, s.URLWins)
	return opts, nil
}

// NewClient returns a client for rawURL with Options. It does not connect:
// Redis may come up later, and until it does each command fails within its
// bounds.
func NewClient(rawURL string, s Settings) (*redis.Client, error) {
	opts, err := Options(rawURL, s)
	if err != nil {
		return nil, err
	}
	return redis.NewClient(opts), nil
}

// set stores value in field unless value is zero, or the URL set the field
// and urlWins.
func set[T comparable](field *T, value T, urlWins bool) {
	var zero T
	if value == zero || (urlWins && *field != zero) {
		return
	}
	*field = value
}

// MaxTxRetries bounds how often Watch runs a transaction whose watched keys
// concurrent writes changed.
const MaxTxRetries = 16

// Watch runs fn in a WATCH on keys (go-redis's optimistic transaction: fn
// reads through the *redis.Tx and queues its writes with TxPipelined) and
// runs it again when a concurrent write to one of the keys aborted its
// commit, up to MaxTxRetries times in all; then it gives up with an error
// wrapping redis.TxFailedErr. Any other outcome of fn, nil or an error, is
// returned as it is.
func Watch(ctx context.Context, rdb redis.UniversalClient, fn func(*redis.Tx) error, keys ...string) error {
	for range MaxTxRetries {
		err := rdb.Watch(ctx, fn, keys...)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return fmt.Errorf("transaction on %v aborted %d times by concurrent writes: %w", keys, MaxTxRetries, redis.TxFailedErr)
}

// RouteLogs sends go-redis's own log lines (a process-wide setting of the
// library) to logger through Logger, instead of plain text on stderr, so
// every line on stderr stays JSON.
func RouteLogs(logger *slog.Logger) { redis.SetLogger(Logger(logger)) }

// Logging is go-redis's logging interface.
type Logging interface {
	Printf(ctx context.Context, format string, v ...any)
}

// Logger returns logger as go-redis's logging interface: each line at warn
// level, message "redis client", the library's text as detail, tagged
// component=redis.
func Logger(logger *slog.Logger) Logging { return libraryLogger{logger.With("component", "redis")} }

type libraryLogger struct{ l *slog.Logger }

func (g libraryLogger) Printf(ctx context.Context, format string, v ...any) {
	g.l.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
