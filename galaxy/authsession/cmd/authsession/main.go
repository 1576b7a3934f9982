// Command authsession serves the Auth/Session Service: email one-time-code
// login, sessions and access tokens (see galaxy/README.md).
package main

import (
	"context"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/config"
	"galaxy/authsession/internal/grpcapi"
	"galaxy/authsession/internal/mailclient"
	"galaxy/authsession/internal/redisstore"
	"galaxy/authsession/internal/token"
	"galaxy/authsession/internal/userclient"
	"galaxy/platform/envconfig"
	"galaxy/platform/readiness"
	"galaxy/platform/service"
)

const name = "authsession"

func main() { service.Main(name, run) }

// run wires the service from the environment read through lookup and serves
// until ctx ends.
func run(ctx context.Context, lookup envconfig.Lookuper) error {
	cfg, err := config.Load(lookup)
	if err != nil {
		return err
	}
	svc, err := service.New(name, cfg.Settings)
	if err != nil {
		return err
	}

	key, err := token.LoadPrivateKey(cfg.SigningKeyFile)
	if err != nil {
		return envconfig.Problem("AUTHSESSION_SIGNING_KEY_FILE", cfg.SigningKeyFile, err)
	}
	issuer, err := token.NewIssuer(key, token.IssuerOptions{
		KeyID:    cfg.SigningKeyID,
		Issuer:   cfg.TokenIssuer,
		Audience: cfg.TokenAudience,
		TTL:      cfg.AccessTokenTTL,
	})
	if err != nil {
		return err
	}
	rdb, err := redisstore.NewClient(cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	store, err := redisstore.New(rdb, cfg.RedisKeyPrefix)
	if err != nil {
		return err
	}
	mailer, err := mailclient.New(cfg.MailURL, cfg.UpstreamTimeout)
	if err != nil {
		return err
	}
	defer mailer.Close()
	users, err := userclient.New(cfg.UserURL, cfg.UpstreamTimeout)
	if err != nil {
		return err
	}
	defer users.Close()
	// Redis is the one hard dependency: without it no call can succeed.
	// The mail and user services only matter to logins, which report their
	// failures themselves; they do not make the service unready. Redis may
	// come up later (readiness and each call report it): the check at start
	// opens a pooled connection and says early when Redis is away.
	redis := readiness.Dependency{Name: "redis", Check: store.Ping}
	if err := svc.Depend(redis); err != nil {
		return err
	}
	svc.CheckAtStart(redis)

	domain, err := auth.NewService(auth.Options{
		Store:           store,
		Limiter:         store,
		Mailer:          mailer,
		Users:           users,
		Tokens:          issuer,
		CodeSecret:      key.Seed(),
		CodeTTL:         cfg.CodeTTL,
		CodeMaxAttempts: cfg.CodeMaxAttempts,
		SessionTTL:      cfg.SessionTTL,
		RetryGrace:      cfg.RetryGrace,
		Limits: auth.Limits{
			ResendCooldown:        cfg.ResendCooldown,
			StartsPerEmail:        cfg.StartLimitPerEmail,
			StartsPerClient:       cfg.StartLimitPerClient,
			StartWindow:           cfg.StartLimitWindow,
			FailedAttemptsPerHour: cfg.FailedAttemptsPerHour,
		},
	})
	if err != nil {
		return err
	}
	grpcSrv, err := grpcapi.NewServer(domain, svc.Logger())
	if err != nil {
		return err
	}

	return svc.Run(ctx, service.GRPC("grpc", cfg.GRPCAddr, grpcSrv))
}
