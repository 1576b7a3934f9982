// Command user serves the user service: users resolved by email and looked
// up by id (contracts/user.md), and an admin API that disables a user and
// has every session of it revoked at authsession (see galaxy/README.md).
package main

import (
	"context"

	"galaxy/platform/envconfig"
	"galaxy/platform/readiness"
	"galaxy/platform/service"
	"galaxy/user/internal/authsessionclient"
	"galaxy/user/internal/config"
	"galaxy/user/internal/httpapi"
	"galaxy/user/internal/redisstore"
	"galaxy/user/internal/users"
)

const name = "user"

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
	logger := svc.Logger()

	rdb, err := redisstore.NewClient(cfg.RedisURL, cfg.RedisTimeout)
	if err != nil {
		return envconfig.Invalid(err)
	}
	defer rdb.Close()
	store, err := redisstore.New(rdb, cfg.RedisKeyPrefix)
	if err != nil {
		return err
	}
	auth, err := authsessionclient.New(cfg.AuthsessionAddr, cfg.AuthsessionTimeout)
	if err != nil {
		return envconfig.Invalid(err)
	}
	defer auth.Close()
	// Redis is the one hard dependency: without it no call can succeed.
	// authsession only matters to the revocations, which are retried until
	// it answers; it does not make the service unready.
	if err := svc.Depend(readiness.Dependency{Name: "redis", Check: store.Ping}); err != nil {
		return err
	}

	deliverer, err := users.NewDeliverer(users.DeliveryOptions{
		Store:       store,
		Revoker:     auth,
		Logger:      logger,
		CallTimeout: cfg.AuthsessionTimeout,
		RetryMin:    cfg.RetryMin,
		RetryMax:    cfg.RetryMax,
	})
	if err != nil {
		return envconfig.Invalid(err)
	}
	// The deliverer runs beside the servers (resuming what an earlier run
	// left pending) and stops after their drain, so that a disable answered
	// while they drain still has its revocation delivered.
	svc.Background(deliverer.Run)
	domain, err := users.NewService(users.Options{Store: store, Deliveries: deliverer, RevocationWait: cfg.RevocationWait})
	if err != nil {
		return err
	}
	public, err := httpapi.Public(domain, logger, svc.Ready)
	if err != nil {
		return err
	}
	admin, err := httpapi.Admin(domain, logger, svc.Ready)
	if err != nil {
		return err
	}

	// A disable stores the change, waits for the revocation and reads the
	// user again.
	budget := cfg.RevocationWait + 2*cfg.RedisTimeout
	logger.Info("starting", "authsession", cfg.AuthsessionAddr, "redis_key_prefix", cfg.RedisKeyPrefix)
	return svc.Run(ctx,
		service.HTTP("http", cfg.HTTPAddr, public, budget),
		service.HTTP("admin", cfg.AdminAddr, admin, budget),
	)
}
