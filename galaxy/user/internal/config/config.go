// Package config loads the user service's settings from the environment
// (the USER_* variables of galaxy/README.md, section "user").
package config

import (
	"errors"
	"strings"
	"time"

	"galaxy/platform/envconfig"
	"galaxy/platform/service"
)

// Config is every setting of the user service.
type Config struct {
	HTTPAddr           string        // USER_HTTP_ADDR
	AdminAddr          string        // USER_ADMIN_ADDR
	RedisURL           string        // USER_REDIS_URL
	RedisKeyPrefix     string        // USER_REDIS_KEY_PREFIX
	RedisTimeout       time.Duration // USER_REDIS_TIMEOUT
	AuthsessionAddr    string        // USER_AUTHSESSION_ADDR
	AuthsessionTimeout time.Duration // USER_AUTHSESSION_TIMEOUT
	RevocationWait     time.Duration // USER_REVOCATION_WAIT
	RetryMin           time.Duration // USER_REVOCATION_RETRY_MIN
	RetryMax           time.Duration // USER_REVOCATION_RETRY_MAX
	// USER_LOG_LEVEL, USER_READY_FILE, USER_READY_TIMEOUT (250ms by
	// default) and USER_SHUTDOWN_TIMEOUT, as every binary has them.
	service.Settings
}

// Load reads the configuration through lookup and returns every problem at
// once as an *envconfig.Error.
func Load(lookup envconfig.Lookuper) (Config, error) {
	r := envconfig.New(lookup)
	c := Config{
		HTTPAddr:           r.ListenAddr("USER_HTTP_ADDR", ":8090"),
		AdminAddr:          r.ListenAddr("USER_ADMIN_ADDR", "127.0.0.1:8091"),
		RedisURL:           r.RedisURL("USER_REDIS_URL"),
		RedisKeyPrefix:     r.String("USER_REDIS_KEY_PREFIX", "galaxy-user:"),
		RedisTimeout:       r.Duration("USER_REDIS_TIMEOUT", time.Second),
		AuthsessionAddr:    r.DialAddr("USER_AUTHSESSION_ADDR"),
		AuthsessionTimeout: r.Duration("USER_AUTHSESSION_TIMEOUT", 2*time.Second),
		RevocationWait:     r.Duration("USER_REVOCATION_WAIT", 2*time.Second),
		RetryMin:           r.Duration("USER_REVOCATION_RETRY_MIN", 100*time.Millisecond),
		RetryMax:           r.Duration("USER_REVOCATION_RETRY_MAX", 10*time.Second),
		Settings:           service.ReadSettings(r, "USER", 250*time.Millisecond),
	}
	if c.RetryMax < c.RetryMin {
		r.Check("USER_REVOCATION_RETRY_MAX", c.RetryMax.String(), errors.New("must not be below USER_REVOCATION_RETRY_MIN"))
	}
	if c.HTTPAddr == c.AdminAddr && !strings.HasSuffix(c.AdminAddr, ":0") {
		r.Check("USER_ADMIN_ADDR", c.AdminAddr, errors.New("must differ from USER_HTTP_ADDR: the admin API has a listener of its own"))
	}
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}
