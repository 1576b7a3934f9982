// Package config loads the authsession configuration from the environment
// (the AUTHSESSION_* variables of galaxy/README.md).
package config

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"galaxy/platform/envconfig"
	"galaxy/platform/service"
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
	RetryGrace time.Duration
	// AUTHSESSION_LOG_LEVEL, AUTHSESSION_READY_FILE,
	// AUTHSESSION_READY_TIMEOUT (250ms by default) and
	// AUTHSESSION_SHUTDOWN_TIMEOUT, as every binary has them.
	service.Settings

	// Abuse limits of email login.
	ResendCooldown        time.Duration
	StartLimitPerEmail    int
	StartLimitPerClient   int
	StartLimitWindow      time.Duration
	FailedAttemptsPerHour int
}

// Load reads the configuration through lookup and returns every problem at
// once as an *envconfig.Error.
func Load(lookup envconfig.Lookuper) (Config, error) {
	r := envconfig.New(lookup)
	c := Config{
		GRPCAddr:        r.ListenAddr("AUTHSESSION_GRPC_ADDR", ":9090"),
		RedisURL:        r.RedisURL("AUTHSESSION_REDIS_URL"),
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
		Settings:        service.ReadSettings(r, "AUTHSESSION", 250*time.Millisecond),

		ResendCooldown:        r.Duration("AUTHSESSION_RESEND_COOLDOWN", 30*time.Second),
		StartLimitPerEmail:    r.Int("AUTHSESSION_START_LIMIT_PER_EMAIL", 5, 1),
		StartLimitPerClient:   r.Int("AUTHSESSION_START_LIMIT_PER_CLIENT", 30, 1),
		StartLimitWindow:      r.Duration("AUTHSESSION_START_LIMIT_WINDOW", time.Hour),
		FailedAttemptsPerHour: r.Int("AUTHSESSION_FAILED_ATTEMPTS_PER_HOUR", 10, 1),
	}

	if c.MailURL != "" {
		r.Check("AUTHSESSION_MAIL_URL", c.MailURL, checkBaseURL(c.MailURL))
	}
	if c.UserURL != "" {
		r.Check("AUTHSESSION_USER_URL", c.UserURL, checkBaseURL(c.UserURL))
	}
	if v := r.String("AUTHSESSION_RETRY_GRACE", ""); v != "" {
		d, err := parseRetryGrace(v)
		r.Check("AUTHSESSION_RETRY_GRACE", v, err)
		if err == nil {
			c.RetryGrace = d
		}
	}
	if err := r.Err(); err != nil {
		return c, err
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
