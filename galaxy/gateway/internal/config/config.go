// Package config loads the gateway's settings from the environment
// (galaxy/README.md, section "gateway").
package config

import (
	"time"

	"galaxy/platform/envconfig"
	"galaxy/platform/service"
)

// Config is every setting of the gateway.
type Config struct {
	HTTPAddr           string        // GATEWAY_HTTP_ADDR
	GRPCAddr           string        // GATEWAY_GRPC_ADDR
	AuthsessionAddr    string        // GATEWAY_AUTHSESSION_ADDR
	AuthsessionTimeout time.Duration // GATEWAY_AUTHSESSION_TIMEOUT
	RedisURL           string        // GATEWAY_REDIS_URL
	RedisKeyPrefix     string        // GATEWAY_REDIS_KEY_PREFIX
	RedisTimeout       time.Duration // GATEWAY_REDIS_TIMEOUT
	JWKSFile           string        // GATEWAY_JWKS_FILE
	TokenIssuer        string        // GATEWAY_TOKEN_ISSUER
	TokenAudience      string        // GATEWAY_TOKEN_AUDIENCE
	LoginRatePerMinute int           // GATEWAY_LOGIN_RATE_PER_MINUTE
	LoginBurst         int           // GATEWAY_LOGIN_BURST
	// GATEWAY_LOG_LEVEL, GATEWAY_READY_FILE, GATEWAY_READY_TIMEOUT (500ms by
	// default) and GATEWAY_SHUTDOWN_TIMEOUT, as every binary has them.
	service.Settings
}

// Load reads the configuration through lookup. The error, if any, is an
// *envconfig.Error with one problem per bad or missing setting.
func Load(lookup envconfig.Lookuper) (Config, error) {
	r := envconfig.New(lookup)
	c := Config{
		HTTPAddr:           r.ListenAddr("GATEWAY_HTTP_ADDR", ":8080"),
		GRPCAddr:           r.ListenAddr("GATEWAY_GRPC_ADDR", ":9080"),
		AuthsessionAddr:    r.DialAddr("GATEWAY_AUTHSESSION_ADDR"),
		AuthsessionTimeout: r.Duration("GATEWAY_AUTHSESSION_TIMEOUT", 3*time.Second),
		RedisURL:           r.RedisURL("GATEWAY_REDIS_URL"),
		RedisKeyPrefix:     r.String("GATEWAY_REDIS_KEY_PREFIX", "galaxy:"),
		RedisTimeout:       r.Duration("GATEWAY_REDIS_TIMEOUT", time.Second),
		JWKSFile:           r.Required("GATEWAY_JWKS_FILE"),
		TokenIssuer:        r.String("GATEWAY_TOKEN_ISSUER", "galaxy-authsession"),
		TokenAudience:      r.String("GATEWAY_TOKEN_AUDIENCE", "galaxy-gateway"),
		LoginRatePerMinute: r.Int("GATEWAY_LOGIN_RATE_PER_MINUTE", 60, 1),
		LoginBurst:         r.Int("GATEWAY_LOGIN_BURST", 20, 1),
		Settings:           service.ReadSettings(r, "GATEWAY", 500*time.Millisecond),
	}
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}
