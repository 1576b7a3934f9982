// Command gateway is the galaxy Edge Gateway: the public HTTP JSON and gRPC
// APIs in front of the Auth/Session Service (see galaxy/README.md).
package main

import (
	"context"
	"errors"
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
	logger, _ := logging.New(os.Stderr, service, "info") // a valid level cannot fail
	ctx = logging.WithLogger(ctx, logger)

	err := realMain(ctx)
	stop()
	var cfgErr *configError
	switch {
	case errors.As(err, &cfgErr):
		for _, problem := range problems(cfgErr.err) {
			fmt.Fprintf(os.Stderr, "%s: %v\n", service, problem)
		}
		os.Exit(2)
	case err != nil:
		logger.Error("exiting", "error", err)
		os.Exit(1)
	}
}

// realMain wires the gateway from the environment and serves until ctx ends.
func realMain(ctx context.Context) error {
	cfg, err := config.Load(envconfig.OS())
	if err != nil {
		return &configError{err}
	}
	logger, err := logging.New(os.Stderr, service, cfg.LogLevel)
	if err != nil {
		return &configError{err}
	}
	ctx = logging.WithLogger(ctx, logger)
	redisconn.RouteLogs(logger)
	logging.RouteGRPC(logger)

	keys, err := tokenverify.LoadJWKSFile(cfg.JWKSFile)
	if err != nil {
		return &configError{fmt.Errorf("GATEWAY_JWKS_FILE: %w", err)}
	}
	tokens, err := tokenverify.NewVerifier(keys, cfg.TokenIssuer, cfg.TokenAudience)
	if err != nil {
		return &configError{err}
	}
	store, err := redisstore.New(redisstore.Config{URL: cfg.RedisURL, KeyPrefix: cfg.RedisKeyPrefix, Timeout: cfg.RedisTimeout})
	if err != nil {
		return &configError{err}
	}
	defer store.Close()
	auth, err := authsessionclient.New(cfg.AuthsessionAddr, cfg.AuthsessionTimeout)
	if err != nil {
		return &configError{err}
	}
	defer auth.Close()

	logins, err := ratelimit.New(cfg.LoginRatePerMinute, cfg.LoginBurst)
	if err != nil {
		return &configError{err}
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
	err = lifecycle.Run(ctx, lifecycle.Options{
		Service:         service,
		ReadyFile:       cfg.ReadyFile,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Logger:          logger,
	},
		lifecycle.HTTP("http", httpLn, httpapi.NewServer(handler, logger, cfg.AuthsessionTimeout+cfg.RedisTimeout)),
		grpcSrv.Lifecycle("grpc", grpcLn),
	)
	if err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// configError marks a bad or missing setting (exit code 2).
type configError struct{ err error }

func (e *configError) Error() string { return "configuration: " + e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// problems flattens joined errors into one error per problem.
func problems(err error) []error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, problems(e)...)
		}
		return out
	}
	return []error{err}
}
