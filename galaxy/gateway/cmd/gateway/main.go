// Command gateway is the galaxy Edge Gateway: the public HTTP JSON and gRPC
// APIs in front of the Auth/Session Service (see galaxy/README.md).
package main

import (
	"context"
	"fmt"

	"galaxy/gateway/internal/authsessionclient"
	"galaxy/gateway/internal/config"
	"galaxy/gateway/internal/gateway"
	"galaxy/gateway/internal/grpcapi"
	"galaxy/gateway/internal/httpapi"
	"galaxy/gateway/internal/ratelimit"
	"galaxy/gateway/internal/redisstore"
	"galaxy/gateway/internal/tokenverify"
	"galaxy/platform/envconfig"
	"galaxy/platform/service"
)

const name = "gateway"

func main() { service.Main(name, run) }

// run wires the gateway from the environment read through lookup and serves
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
	logger := svc.Logger()

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
	if err := svc.Depend(gateway.Dependencies(store, auth)...); err != nil {
		return err
	}

	domain, err := gateway.NewService(tokens, store, auth, gateway.WithLoginLimiter(logins), gateway.WithReadiness(svc.Ready))
	if err != nil {
		return fmt.Errorf("domain service: %w", err)
	}
	handler, err := httpapi.New(domain, logger)
	if err != nil {
		return fmt.Errorf("http api: %w", err)
	}
	grpcSrv, err := grpcapi.NewServer(domain, logger)
	if err != nil {
		return fmt.Errorf("grpc api: %w", err)
	}

	logger.Info("starting", "keys", keys.KeyIDs(), "authsession", cfg.AuthsessionAddr)
	return svc.Run(ctx,
		service.HTTP("http", cfg.HTTPAddr, handler, cfg.AuthsessionTimeout+cfg.RedisTimeout),
		service.GRPC("grpc", cfg.GRPCAddr, grpcSrv),
	)
}
