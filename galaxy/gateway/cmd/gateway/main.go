// Command gateway is the galaxy Edge Gateway: the public HTTP JSON and gRPC
// APIs in front of the Auth/Session Service (see galaxy/README.md).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"galaxy/gateway/internal/authsessionclient"
	"galaxy/gateway/internal/config"
	"galaxy/gateway/internal/gateway"
	"galaxy/gateway/internal/grpcapi"
	"galaxy/gateway/internal/httpapi"
	"galaxy/gateway/internal/ratelimit"
	"galaxy/gateway/internal/redisstore"
	"galaxy/gateway/internal/tokenverify"
	"galaxy/platform/envconfig"
	"galaxy/platform/lifecycle"
	"galaxy/platform/logging"
	"galaxy/platform/redisconn"
)

const service = "gateway"

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

// run wires the gateway from the environment read through lookup and serves
// until ctx ends.
func run(ctx context.Context, lookup envconfig.Lookuper) error {
	cfg, err := config.Load(lookup)
	if err != nil {
		return err
	}
	logger, err := logging.New(os.Stderr, service, cfg.LogLevel)
	if err != nil {
		return envconfig.Problem("GATEWAY_LOG_LEVEL", cfg.LogLevel, err)
	}
	ctx = logging.WithLogger(ctx, logger)
	redisconn.RouteLogs(logger)
	logging.RouteGRPC(logger)

	keys, err := tokenverify.LoadJWKSFile(cfg.JWKSFile)
	if err != nil {
		return envconfig.Problem("GATEWAY_JWKS_FILE", cfg.JWKSFile, err)
	}
	tokens, err := tokenverify.NewVerifier(keys, cfg.TokenIssuer, cfg.TokenAudience)
	if err != nil {
		return envconfig.Invalid(err)
	}
	store, err := redisstore.New(redisstore.Config{URL: cfg.RedisURL, KeyPrefix: cfg.RedisKeyPrefix, Timeout: cfg.RedisTimeout})
	if err != nil {
		return envconfig.Invalid(err)
	}
	defer store.Close()
	auth, err := authsessionclient.New(cfg.AuthsessionAddr, cfg.AuthsessionTimeout)
	if err != nil {
		return envconfig.Invalid(err)
	}
	defer auth.Close()
	logins, err := ratelimit.New(cfg.LoginRatePerMinute, cfg.LoginBurst)
	if err != nil {
		return envconfig.Invalid(err)
	}

	svc, err := gateway.NewService(tokens, store, auth,
		gateway.WithLoginLimiter(logins), gateway.WithReadyTimeout(cfg.ReadyTimeout))
	if err != nil {
		return fmt.Errorf("domain service: %w", err)
	}
	handler, err := httpapi.New(svc, logger)
	if err != nil {
		return fmt.Errorf("http api: %w", err)
	}
	grpcSrv, err := grpcapi.NewServer(svc, logger)
	if err != nil {
		return fmt.Errorf("grpc api: %w", err)
	}

	httpLn, err := lifecycle.Listen("http", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	grpcLn, err := lifecycle.Listen("grpc", cfg.GRPCAddr)
	if err != nil {
		httpLn.Close()
		return err
	}
	logger.Info("starting", "keys", keys.KeyIDs(), "authsession", cfg.AuthsessionAddr)
	return lifecycle.Run(ctx, lifecycle.Options{
		Service:         service,
		ReadyFile:       cfg.ReadyFile,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Logger:          logger,
	},
		lifecycle.HTTP("http", httpLn, httpapi.NewServer(handler, logger, cfg.AuthsessionTimeout+cfg.RedisTimeout)),
		grpcSrv.Lifecycle("grpc", grpcLn),
	)
}
