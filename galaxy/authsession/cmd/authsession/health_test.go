package main

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/platform/envconfig"
)

// readyBound is the AUTHSESSION_READY_TIMEOUT of these tests.
const readyBound = 200 * time.Millisecond

// silentAddr is the address of a server that accepts connections and never
// answers, as a frozen Redis looks to its clients.
func silentAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// startService runs the service on env until the test ends and returns a
// health client of it.
func startService(t *testing.T, env map[string]string) healthpb.HealthClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan error, 1)
	go func() { exited <- run(ctx, envconfig.Map(env)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("run() = %v after cancellation, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("run did not return within 10s of cancellation")
		}
	})
	doc := waitReady(t, env["AUTHSESSION_READY_FILE"], exited)
	conn, err := grpc.NewClient(doc.Addresses["grpc"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// wantHealth checks both health service names report want, each answer
// coming within the readiness bound and a margin for a loaded machine.
func wantHealth(t *testing.T, health healthpb.HealthClient, want healthpb.HealthCheckResponse_ServingStatus, state string) {
	t.Helper()
	for _, service := range []string{"", authsessionv1.AuthSessionService_ServiceDesc.ServiceName} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		took := time.Since(start)
		cancel()
		if err != nil || resp.GetStatus() != want {
			t.Errorf("%s: health Check(%q) = %v, %v; want %s", state, service, resp, err, want)
		}
		if limit := readyBound + 2*time.Second; took > limit {
			t.Errorf("%s: health Check(%q) took %v, want within %v", state, service, took, limit)
		}
	}
}

// TestHealthFollowsRedis checks that health reports NOT_SERVING while Redis,
// the one hard dependency, does not answer, within the readiness bound even
// when Redis hangs, and SERVING again once it is back; the mail and user
// services, soft dependencies, do not count.
func TestHealthFollowsRedis(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, env map[string]string)
		want  healthpb.HealthCheckResponse_ServingStatus
	}{
		{"redis up", func(*testing.T, map[string]string) {}, healthpb.HealthCheckResponse_SERVING},
		{"redis refusing connections", func(t *testing.T, env map[string]string) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			env["AUTHSESSION_REDIS_URL"] = "redis://" + ln.Addr().String() + "/0"
			ln.Close()
		}, healthpb.HealthCheckResponse_NOT_SERVING},
		{"redis frozen", func(t *testing.T, env map[string]string) {
			env["AUTHSESSION_REDIS_URL"] = "redis://" + silentAddr(t) + "/0"
		}, healthpb.HealthCheckResponse_NOT_SERVING},
		{"mail and user services down", func(t *testing.T, env map[string]string) {
			env["AUTHSESSION_MAIL_URL"] = "http://" + silentAddr(t)
			env["AUTHSESSION_USER_URL"] = "http://" + silentAddr(t)
		}, healthpb.HealthCheckResponse_SERVING},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, _ := testEnv(t)
			env["AUTHSESSION_READY_TIMEOUT"] = readyBound.String()
			tt.setup(t, env)
			wantHealth(t, startService(t, env), tt.want, tt.name)
		})
	}
}

// TestHealthRecoversAfterARedisRestart checks that a Redis restarted on the
// same address, empty or with its data, makes the service SERVING again
// without a restart of its own.
func TestHealthRecoversAfterARedisRestart(t *testing.T) {
	t.Parallel()
	for _, keepData := range []bool{true, false} {
		name := map[bool]string{true: "with its data", false: "empty"}[keepData]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env, _ := testEnv(t)
			env["AUTHSESSION_READY_TIMEOUT"] = readyBound.String()
			mr := miniredis.RunT(t)
			env["AUTHSESSION_REDIS_URL"] = "redis://" + mr.Addr() + "/0"
			health := startService(t, env)
			wantHealth(t, health, healthpb.HealthCheckResponse_SERVING, "before the restart")

			mr.Close()
			wantHealth(t, health, healthpb.HealthCheckResponse_NOT_SERVING, "redis stopped")
			if !keepData {
				mr.FlushAll()
			}
			if err := mr.Restart(); err != nil {
				t.Fatalf("restart redis: %v", err)
			}
			wantHealth(t, health, healthpb.HealthCheckResponse_SERVING, "redis restarted")
		})
	}
}
