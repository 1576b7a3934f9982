package gatewaytest

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"galaxy/gateway/internal/authsessionclient"
	"galaxy/gateway/internal/gateway"
	"galaxy/gateway/internal/redisstore"
	"galaxy/gateway/internal/tokenverify"
)

// Timeouts of the Stack's adapters.
const (
	AuthTimeout  = 2 * time.Second
	RedisTimeout = 500 * time.Millisecond
)

// Stack is a domain service wired to a real verifier, a Redis store over an
// in-memory Redis and a client of a fake authsession that works on the same
// Redis.
type Stack struct {
	Key     Key
	Redis   *miniredis.Miniredis
	Auth    *AuthSession
	Service *gateway.Service
}

// StackOption customises a Stack.
type StackOption func(*stackConfig)

type stackConfig struct {
	authAddr     string
	redisAddr    string
	authTimeout  time.Duration
	redisTimeout time.Duration
	service      []gateway.Option
}

// WithTimeouts sets the call deadlines of the stack's authsession client and
// Redis store (AuthTimeout and RedisTimeout by default).
func WithTimeouts(auth, redis time.Duration) StackOption {
	return func(c *stackConfig) { c.authTimeout, c.redisTimeout = auth, redis }
}

// WithReadyTimeout bounds the stack's readiness checks by d.
func WithReadyTimeout(d time.Duration) StackOption {
	return func(c *stackConfig) { c.service = append(c.service, gateway.WithReadyTimeout(d)) }
}

// WithAuthAddr points the stack's authsession client at addr instead of the fake.
func WithAuthAddr(addr string) StackOption { return func(c *stackConfig) { c.authAddr = addr } }

// WithRedisAddr points the stack's Redis store at addr instead of miniredis.
func WithRedisAddr(addr string) StackOption { return func(c *stackConfig) { c.redisAddr = addr } }

// WithLoginLimiter limits the stack's login calls with l.
func WithLoginLimiter(l gateway.Limiter) StackOption {
	return func(c *stackConfig) { c.service = append(c.service, gateway.WithLoginLimiter(l)) }
}

// NewStack builds a Stack. The fake authsession may be configured until the
// first call.
func NewStack(tb testing.TB, opts ...StackOption) *Stack {
	tb.Helper()
	s := &Stack{Key: NewKey(tb, "key-1"), Redis: Redis(tb), Auth: NewAuthSession()}
	s.Auth.UseRedis(s.Redis)
	cfg := stackConfig{authAddr: s.Auth.Serve(tb), redisAddr: s.Redis.Addr(), authTimeout: AuthTimeout, redisTimeout: RedisTimeout}
	for _, opt := range opts {
		opt(&cfg)
	}
	verifier, err := tokenverify.NewVerifier(KeySet(tb, s.Key), Issuer, Audience)
	if err != nil {
		tb.Fatalf("verifier: %v", err)
	}
	store, err := redisstore.New(redisstore.Config{URL: "redis://" + cfg.redisAddr + "/0", KeyPrefix: Prefix, Timeout: cfg.redisTimeout})
	if err != nil {
		tb.Fatalf("redis store: %v", err)
	}
	tb.Cleanup(func() { store.Close() })
	client, err := authsessionclient.New(cfg.authAddr, cfg.authTimeout)
	if err != nil {
		tb.Fatalf("authsession client: %v", err)
	}
	tb.Cleanup(func() { client.Close() })
	s.Service, err = gateway.NewService(verifier, store, client, cfg.service...)
	if err != nil {
		tb.Fatalf("service: %v", err)
	}
	return s
}

// Login stores a live session for user and returns a valid token for it.
func (s *Stack) Login(tb testing.TB, sessionID, user string) string {
	tb.Helper()
	PutSession(tb, s.Redis, ActiveSession(sessionID, user))
	return s.Key.Sign(tb, AccessClaims(user, sessionID, time.Now()))
}
