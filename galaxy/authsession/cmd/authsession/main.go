// Command authsession serves the Auth/Session Service: email one-time-code
// login, sessions and access tokens (see galaxy/README.md).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/config"
	"galaxy/authsession/internal/grpcapi"
	"galaxy/authsession/internal/mailclient"
	"galaxy/authsession/internal/redisstore"
	"galaxy/authsession/internal/token"
	"galaxy/authsession/internal/userclient"
	"galaxy/platform/envconfig"
	"galaxy/platform/lifecycle"
	"galaxy/platform/logging"
	"galaxy/platform/readiness"
	"galaxy/platform/redisconn"
)

const service = "authsession"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	logger, _ := logging.New(os.Stderr, service, "info") // a constant level always parses
	ctx = logging.WithLogger(ctx, logger)

	err := realMain(ctx)
	stop()
	if code := lifecycle.Exit(err, service, os.Stderr, logger); code != 0 {
		os.Exit(code)
	}
}

func realMain(ctx context.Context) error {
	return run(ctx, envconfig.OS())
}

// run wires the service from the environment read through lookup and serves
// until ctx ends.
func run(ctx context.Context, lookup envconfig.Lookuper) error {
	cfg, err := config.Load(lookup)
	if err != nil {
		return err
	}
	logger, err := logging.New(os.Stderr, service, cfg.LogLevel)
	if err != nil {
		return envconfig.Problem("AUTHSESSION_LOG_LEVEL", cfg.LogLevel, err)
	}
	ctx = logging.WithLogger(ctx, logger)

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

	redisconn.RouteLogs(logger)
	logging.RouteGRPC(logger)
	rdb, err := redisstore.NewClient(cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	store, err := redisstore.New(rdb, cfg.RedisKeyPrefix)
	if err != nil {
		return err
	}
	// Not on the way to serving: Redis may come up later (readiness and each
	// call report it). The first ping opens a pooled connection and says early
	// when Redis is away. It ends, silently, once run returns: pinged is
	// cancelled before the client closes, so a start that fails for another
	// reason does not also report Redis.
	pinged, stopPing := context.WithCancel(ctx)
	defer stopPing()
	go func() {
		pingCtx, cancel := context.WithTimeout(pinged, 2*time.Second)
		defer cancel()
		if err := store.Ping(pingCtx); err != nil && pinged.Err() == nil {
			logger.Warn("redis is not reachable yet", "error", err)
		}
	}()

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

	svc, err := auth.NewService(auth.Options{
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
	// Redis is the one hard dependency: without it no call can succeed.
	// The mail and user services only matter to logins, which report their
	// failures themselves; they do not make the service unready.
	ready, err := readiness.New(cfg.ReadyTimeout, readiness.Dependency{Name: "redis", Check: store.Ping})
	if err != nil {
		return err
	}
	srv, err := grpcapi.NewServer(svc, logger, grpcapi.WithReadiness(ready.Check))
	if err != nil {
		return err
	}

	ln, err := lifecycle.Listen("grpc", cfg.GRPCAddr)
	if err != nil {
		return err
	}
	return lifecycle.Run(ctx, lifecycle.Options{
		Service:         service,
		ReadyFile:       cfg.ReadyFile,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Logger:          logger,
	}, srv.Lifecycle("grpc", ln))
}
