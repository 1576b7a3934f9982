// Package config loads the authsession configuration from the environment
// (the AUTHSESSION_* variables of galaxy/README.md).
package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"galaxy/platform/envconfig"
)

// Config is the complete authsession configuration.
type Config struct {
	GRPCAddr        string
	RedisURL        string
	RedisKeyPrefix  string
	MailURL         string
	UserURL         string
	UpstreamTimeout time.Duration
	SigningKeyFile  string
	SigningKeyID    string
	TokenIssuer     string
	TokenAudience   string
	AccessTokenTTL  time.Duration
	SessionTTL      time.Duration
	CodeTTL         time.Duration
	CodeMaxAttempts int
	// RetryGrace is how long a confirm or a refresh may be retried with the
	// same inputs and get the same session and refresh token
	// (contracts/tokens.md); 0 turns retries off.
	RetryGrace      time.Duration
	ReadyFile       string
	ReadyTimeout    time.Duration
	ShutdownTimeout time.Duration
	LogLevel        string

	// Abuse limits of email login.
	ResendCooldown        time.Duration
	StartLimitPerEmail    int
	StartLimitPerClient   int
	StartLimitWindow      time.Duration
	FailedAttemptsPerHour int
}

// Error lists every problem found in the configuration, one per variable.
type Error struct {
	Problems []error
}

func (e *Error) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	return "invalid configuration: " + strings.Join(msgs, "; ")
}

// Problem reports a bad setting that can only be checked when it is used
// (for example an unreadable key file) as a configuration error.
func Problem(key, value string, err error) *Error {
	return &Error{Problems: []error{fmt.Errorf("%s=%q: %w", key, value, err)}}
}

// Load reads the configuration through lookup and returns every problem at
// once as an *Error.
func Load(lookup envconfig.Lookuper) (Config, error) {
	r := envconfig.New(lookup)
	c := Config{
		GRPCAddr:        r.HostPort("AUTHSESSION_GRPC_ADDR", ":9090"),
		RedisURL:        r.Required("AUTHSESSION_REDIS_URL"),
		RedisKeyPrefix:  r.String("AUTHSESSION_REDIS_KEY_PREFIX", "galaxy:"),
		MailURL:         r.Required("AUTHSESSION_MAIL_URL"),
		UserURL:         r.Required("AUTHSESSION_USER_URL"),
		UpstreamTimeout: r.Duration("AUTHSESSION_UPSTREAM_TIMEOUT", 2*time.Second),
		SigningKeyFile:  r.Required("AUTHSESSION_SIGNING_KEY_FILE"),
		SigningKeyID:    r.Required("AUTHSESSION_SIGNING_KEY_ID"),
		TokenIssuer:     r.String("AUTHSESSION_TOKEN_ISSUER", "galaxy-authsession"),
		TokenAudience:   r.String("AUTHSESSION_TOKEN_AUDIENCE", "galaxy-gateway"),
		AccessTokenTTL:  r.Duration("AUTHSESSION_ACCESS_TOKEN_TTL", 15*time.Minute),
		SessionTTL:      r.Duration("AUTHSESSION_SESSION_TTL", 720*time.Hour),
		CodeTTL:         r.Duration("AUTHSESSION_CODE_TTL", 10*time.Minute),
		CodeMaxAttempts: r.Int("AUTHSESSION_CODE_MAX_ATTEMPTS", 5, 1),
		RetryGrace:      DefaultRetryGrace,
		ReadyFile:       r.String("AUTHSESSION_READY_FILE", ""),
		ReadyTimeout:    r.Duration("AUTHSESSION_READY_TIMEOUT", 250*time.Millisecond),
		ShutdownTimeout: r.Duration("AUTHSESSION_SHUTDOWN_TIMEOUT", 10*time.Second),
		LogLevel:        r.String("AUTHSESSION_LOG_LEVEL", "info"),

		ResendCooldown:        r.Duration("AUTHSESSION_RESEND_COOLDOWN", 30*time.Second),
		StartLimitPerEmail:    r.Int("AUTHSESSION_START_LIMIT_PER_EMAIL", 5, 1),
		StartLimitPerClient:   r.Int("AUTHSESSION_START_LIMIT_PER_CLIENT", 30, 1),
		StartLimitWindow:      r.Duration("AUTHSESSION_START_LIMIT_WINDOW", time.Hour),
		FailedAttemptsPerHour: r.Int("AUTHSESSION_FAILED_ATTEMPTS_PER_HOUR", 10, 1),
	}

	var problems []error
	if err := r.Err(); err != nil {
		problems = append(problems, unjoin(err)...)
	}
	check := func(key, value string, err error) {
		if err != nil {
			problems = append(problems, fmt.Errorf("%s=%q: %w", key, value, err))
		}
	}
	if c.RedisURL != "" {
		// The URL may hold a password, and so may the parse error, which
		// quotes it: neither is ever shown.
		if err := checkRedisURL(c.RedisURL); err != nil {
			problems = append(problems, fmt.Errorf("AUTHSESSION_REDIS_URL: %w", err))
		}
	}
	if c.MailURL != "" {
		check("AUTHSESSION_MAIL_URL", c.MailURL, checkBaseURL(c.MailURL))
	}
	if c.UserURL != "" {
		check("AUTHSESSION_USER_URL", c.UserURL, checkBaseURL(c.UserURL))
	}
	if v := r.String("AUTHSESSION_RETRY_GRACE", ""); v != "" {
		d, err := parseRetryGrace(v)
		check("AUTHSESSION_RETRY_GRACE", v, err)
		if err == nil {
			c.RetryGrace = d
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		check("AUTHSESSION_LOG_LEVEL", c.LogLevel, errors.New("must be one of debug, info, warn, error"))
	}
	if len(problems) > 0 {
		return c, &Error{Problems: problems}
	}
	return c, nil
}

// DefaultRetryGrace is the retry grace window unless configured otherwise.
const DefaultRetryGrace = 30 * time.Second

// MaxRetryGrace bounds the retry grace window: a used refresh token or a
// consumed login code stays redeemable for that long, so the window is kept
// to what a client retry needs.
const MaxRetryGrace = 5 * time.Minute

// parseRetryGrace reads a Go duration from 0 (strict: no retries) to
// MaxRetryGrace.
func parseRetryGrace(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, err
	case d < 0:
		return 0, errors.New("must not be negative (0 turns retries off)")
	case d > MaxRetryGrace:
		return 0, fmt.Errorf("must be at most %v", MaxRetryGrace)
	}
	return d, nil
}

// checkBaseURL accepts an absolute http or https URL without query or fragment.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("scheme must be http or https")
	}
	if u.Host == "" {
		return errors.New("host is missing")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not have a query or fragment")
	}
	return nil
}

// checkRedisURL accepts what the Redis client accepts. Its errors say what
// is wrong in general terms: they never quote the URL or any part of it.
func checkRedisURL(raw string) error {
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

// unjoin splits an errors.Join result back into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
