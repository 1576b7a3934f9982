package grpcapi_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"galaxy/authsession/internal/grpcapi"
	"galaxy/platform/apierror"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	conn, _ := serve(t, stubService{})
	health := healthpb.NewHealthClient(conn)
	for _, service := range []string{"", "galaxy.authsession.v1.AuthSessionService"} {
		res, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, %v; want SERVING", service, res, err)
		}
	}
}

// TestHealthFollowsReadiness checks that health reports what the readiness
// check answers, for the whole server and the service alike.
func TestHealthFollowsReadiness(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	ready := func(context.Context) error {
		if down.Load() {
			return apierror.Dependency("redis", errors.New("connection refused"))
		}
		return nil
	}
	conn, _ := serve(t, stubService{}, grpcapi.WithReadiness(ready))
	health := healthpb.NewHealthClient(conn)
	for _, step := range []struct {
		down bool
		want healthpb.HealthCheckResponse_ServingStatus
	}{
		{false, healthpb.HealthCheckResponse_SERVING},
		{true, healthpb.HealthCheckResponse_NOT_SERVING},
		{false, healthpb.HealthCheckResponse_SERVING},
	} {
		down.Store(step.down)
		for _, service := range []string{"", "galaxy.authsession.v1.AuthSessionService"} {
			res, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
			if err != nil || res.GetStatus() != step.want {
				t.Errorf("redis down=%v: Check(%q) = %v, %v; want %s", step.down, service, res, err, step.want)
			}
		}
	}
}
