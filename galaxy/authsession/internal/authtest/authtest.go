// Package authtest builds a complete login service for tests: the real
// domain service, Redis store and HTTP clients, wired to miniredis and to
// in-process fakes of the mail and user services.
package authtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/mailclient"
	"galaxy/authsession/internal/redisstore"
	"galaxy/authsession/internal/token"
	"galaxy/authsession/internal/userclient"
)

// Defaults of Options, equal to the service's configuration defaults.
const (
	KeyID    = "test-key-1"
	Issuer   = "galaxy-authsession"
	Audience = "galaxy-gateway"
	Prefix   = "galaxy:"
)

// Options tune an Env; zero fields take the service defaults.
type Options struct {
	CodeTTL         time.Duration
	CodeMaxAttempts int
	SessionTTL      time.Duration
	AccessTokenTTL  time.Duration
	UpstreamTimeout time.Duration
	// RetryGrace is the retry grace window (default 30s); NoRetries turns
	// retries off (a window of 0, strict single use).
	RetryGrace time.Duration
	NoRetries  bool
	Limits     auth.Limits
	Now        func() time.Time
	// WrapStore, when set, wraps the store the Service uses (Env.Store is
	// still the Redis store itself).
	WrapStore func(auth.Store) auth.Store
}

func (o *Options) defaults() {
	setDefault(&o.CodeTTL, 10*time.Minute)
	setDefault(&o.CodeMaxAttempts, 5)
	setDefault(&o.SessionTTL, 720*time.Hour)
	setDefault(&o.AccessTokenTTL, 15*time.Minute)
	setDefault(&o.UpstreamTimeout, 5*time.Second)
	setDefault(&o.RetryGrace, 30*time.Second)
	if o.NoRetries {
		o.RetryGrace = 0
	}
	setDefault(&o.Limits.ResendCooldown, 30*time.Second)
	setDefault(&o.Limits.StartsPerEmail, 5)
	setDefault(&o.Limits.StartsPerClient, 30)
	setDefault(&o.Limits.StartWindow, time.Hour)
	setDefault(&o.Limits.FailedAttemptsPerHour, 10)
}

func setDefault[T comparable](field *T, value T) {
	var zero T
	if *field == zero {
		*field = value
	}
}

// Env is a wired login service and its fakes.
type Env struct {
	Options   Options
	Redis     *miniredis.Miniredis
	Client    *redis.Client
	Store     *redisstore.Store
	Mail      *Mail
	Users     *Users
	Service   *auth.Service
	PublicKey ed25519.PublicKey
}

// New returns an Env whose resources are released when t ends.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	opts.defaults()
	mr := miniredis.RunT(t)
	rdb, err := redisstore.NewClient("redis://" + mr.Addr() + "/0")
	if err != nil {
		t.Fatalf("redis client: %v", err)
	}
	t.Cleanup(func() { rdb.Close() })
	store, err := redisstore.New(rdb, Prefix)
	if err != nil {
		t.Fatalf("store: %v", err)
	}

	mail := NewMail(t)
	users := NewUsers(t)
	mc, err := mailclient.New(mail.URL, opts.UpstreamTimeout)
	if err != nil {
		t.Fatalf("mail client: %v", err)
	}
	t.Cleanup(mc.Close)
	uc, err := userclient.New(users.URL, opts.UpstreamTimeout)
	if err != nil {
		t.Fatalf("user client: %v", err)
	}
	t.Cleanup(uc.Close)

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	issuer, err := token.NewIssuer(priv, token.IssuerOptions{KeyID: KeyID, Issuer: Issuer, Audience: Audience, TTL: opts.AccessTokenTTL})
	if err != nil {
		t.Fatalf("issuer: %v", err)
	}
	var serviceStore auth.Store = store
	if opts.WrapStore != nil {
		serviceStore = opts.WrapStore(store)
	}
	svc, err := auth.NewService(auth.Options{
		Store:           serviceStore,
		Limiter:         store,
		Mailer:          mc,
		Users:           uc,
		Tokens:          issuer,
		CodeSecret:      priv.Seed(),
		CodeTTL:         opts.CodeTTL,
		CodeMaxAttempts: opts.CodeMaxAttempts,
		SessionTTL:      opts.SessionTTL,
		RetryGrace:      opts.RetryGrace,
		Limits:          opts.Limits,
		Now:             opts.Now,
	})
	if err != nil {
		t.Fatalf("service: %v", err)
	}
	return &Env{
		Options: opts, Redis: mr, Client: rdb, Store: store,
		Mail: mail, Users: users, Service: svc, PublicKey: pub,
	}
}
