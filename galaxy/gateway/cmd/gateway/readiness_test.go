package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"galaxy/gateway/api/gatewayv1"
	"galaxy/gateway/internal/gatewaytest"
	"galaxy/platform/readyfile"
	"galaxy/platform/testwait"
)

// readyBound is the GATEWAY_READY_TIMEOUT of these tests; the dependencies'
// own deadlines are set far above it, so an answer near it proves the bound.
const readyBound = 200 * time.Millisecond

// readinessEnv is stackEnv with the short readiness bound and minute-long
// dependency deadlines.
func readinessEnv(t *testing.T) (map[string]string, string) {
	t.Helper()
	env, _, ready := stackEnv(t)
	env["GATEWAY_READY_TIMEOUT"] = readyBound.String()
	env["GATEWAY_AUTHSESSION_TIMEOUT"] = "1m"
	env["GATEWAY_REDIS_TIMEOUT"] = "1m"
	return env, ready
}

// readiness is what both probes of a gateway answer.
type readiness struct {
	httpStatus   int
	dependency   string // metadata.dependency of a 503
	dependencies string // metadata.dependencies of a 503
	health       map[string]healthpb.HealthCheckResponse_ServingStatus
}

var healthServices = []string{"", gatewayv1.GatewayService_ServiceDesc.ServiceName}

// probe asks /readyz and grpc.health.v1 (for every service name) once each.
func probe(t *testing.T, doc readyfile.Document, health healthpb.HealthClient) (readiness, time.Duration) {
	t.Helper()
	var r readiness
	start := time.Now()
	status, body := get(t, "http://"+doc.Addresses["http"]+"/readyz", nil)
	took := time.Since(start)
	r.httpStatus = status
	if status != http.StatusOK {
		var p struct {
			Code     string            `json:"code"`
			Metadata map[string]string `json:"metadata"`
		}
		if err := json.Unmarshal([]byte(body), &p); err != nil || p.Code != "DEPENDENCY_UNAVAILABLE" {
			t.Errorf("GET /readyz = %d %s, want a DEPENDENCY_UNAVAILABLE problem", status, body)
		}
		r.dependency, r.dependencies = p.Metadata["dependency"], p.Metadata["dependencies"]
	}
	r.health = map[string]healthpb.HealthCheckResponse_ServingStatus{}
	for _, service := range healthServices {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		start := time.Now()
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		took = max(took, time.Since(start))
		cancel()
		if err != nil {
			t.Errorf("health Check(%q) error = %v", service, err)
			continue
		}
		r.health[service] = resp.GetStatus()
	}
	return r, took
}

func healthClient(t *testing.T, addr string) healthpb.HealthClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial grpc: %v", err)
	}
	t.Cleanup(func() { cc.Close() })
	return healthpb.NewHealthClient(cc)
}

// wantReadiness checks that both probes give the answer of a gateway whose
// failed dependencies are failed (none: ready).
func wantReadiness(t *testing.T, got readiness, failed ...string) {
	t.Helper()
	wantStatus, wantHealth := http.StatusOK, healthpb.HealthCheckResponse_SERVING
	var wantDep, wantAll string
	if len(failed) > 0 {
		wantStatus, wantHealth = http.StatusServiceUnavailable, healthpb.HealthCheckResponse_NOT_SERVING
		wantDep = failed[0]
		for i, f := range failed {
			if i > 0 {
				wantAll += ","
			}
			wantAll += f
		}
	}
	if got.httpStatus != wantStatus || got.dependency != wantDep || got.dependencies != wantAll {
		t.Errorf("GET /readyz = %d dependency=%q dependencies=%q, want %d dependency=%q dependencies=%q",
			got.httpStatus, got.dependency, got.dependencies, wantStatus, wantDep, wantAll)
	}
	for _, service := range healthServices {
		if got.health[service] != wantHealth {
			t.Errorf("health Check(%q) = %s, want %s (as /readyz answers %d)", service, got.health[service], wantHealth, got.httpStatus)
		}
	}
}

// TestReadinessAgrees checks that /readyz and grpc.health.v1 give the same
// answer in every state of the dependencies, within the readiness bound
// even when a dependency hangs far longer.
func TestReadinessAgrees(t *testing.T) {
	t.Parallel()
	notServing := func(t *testing.T) string {
		fake := gatewaytest.NewAuthSession()
		fake.Health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		return fake.Serve(t)
	}
	dead := func(t *testing.T) string { return gatewaytest.DeadAddr(t) }
	silent := func(t *testing.T) string { return gatewaytest.SilentAddr(t) }
	tests := []struct {
		name   string
		redis  func(t *testing.T) string // nil: the stack's working Redis
		auth   func(t *testing.T) string // nil: the stack's working authsession
		failed []string
	}{
		{"both up", nil, nil, nil},
		{"redis down", dead, nil, []string{"redis"}},
		{"redis frozen", silent, nil, []string{"redis"}},
		{"authsession down", nil, dead, []string{"authsession"}},
		{"authsession not serving", nil, notServing, []string{"authsession"}},
		{"authsession frozen", nil, silent, []string{"authsession"}},
		{"both down", dead, dead, []string{"redis", "authsession"}},
		{"both frozen", silent, silent, []string{"redis", "authsession"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, ready := readinessEnv(t)
			if tt.redis != nil {
				env["GATEWAY_REDIS_URL"] = "redis://" + tt.redis(t) + "/0"
			}
			if tt.auth != nil {
				env["GATEWAY_AUTHSESSION_ADDR"] = tt.auth(t)
			}
			doc := start(t, env).waitReady(t, ready)
			got, took := probe(t, doc, healthClient(t, doc.Addresses["grpc"]))
			wantReadiness(t, got, tt.failed...)
			// The margin absorbs a loaded machine; without the bound a hung
			// dependency would hold the answer for its minute-long deadline.
			if limit := readyBound + 2*time.Second; took > limit {
				t.Errorf("a probe took %v, want within %v (GATEWAY_READY_TIMEOUT=%v)", took, limit, readyBound)
			}
		})
	}
}

// watchStatuses streams the gateway's health statuses to a channel.
func watchStatuses(t *testing.T, health healthpb.HealthClient) <-chan healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	stream, err := health.Watch(t.Context(), &healthpb.HealthCheckRequest{Service: healthServices[1]})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	c := make(chan healthpb.HealthCheckResponse_ServingStatus, 16)
	go func() {
		defer close(c)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			c <- resp.GetStatus()
		}
	}()
	return c
}

// waitStatus reads statuses until want comes, failing after a generous wait.
func waitStatus(t *testing.T, c <-chan healthpb.HealthCheckResponse_ServingStatus, want healthpb.HealthCheckResponse_ServingStatus, why string) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case got, ok := <-c:
			if !ok {
				t.Fatalf("Watch ended before %s (%s)", want, why)
			}
			if got == want {
				return
			}
		case <-timeout:
			t.Fatalf("Watch: no %s within 15s of %s", want, why)
		}
	}
}

// TestRecoversFromAnAuthsessionRestart checks that an authsession killed and
// started again on the same address is used again without restarting the
// gateway, and that health watchers see both changes.
func TestRecoversFromAnAuthsessionRestart(t *testing.T) {
	t.Parallel()
	env, ready := readinessEnv(t)
	fake := gatewaytest.NewAuthSession()
	addr, stop := fake.Start(t, "127.0.0.1:0")
	env["GATEWAY_AUTHSESSION_ADDR"] = addr
	doc := start(t, env).waitReady(t, ready)
	health := healthClient(t, doc.Addresses["grpc"])
	statuses := watchStatuses(t, health)
	waitStatus(t, statuses, healthpb.HealthCheckResponse_SERVING, "starting with both dependencies up")

	stop()
	waitStatus(t, statuses, healthpb.HealthCheckResponse_NOT_SERVING, "authsession stopping")
	got, _ := probe(t, doc, health)
	wantReadiness(t, got, "authsession")

	// Let the gateway fail to reconnect a few times, growing its backoff.
	time.Sleep(2 * time.Second)
	fake.ServeAt(t, addr)
	waitStatus(t, statuses, healthpb.HealthCheckResponse_SERVING, "authsession coming back")
	got, _ = probe(t, doc, health)
	wantReadiness(t, got)
	// Within about a second of its return, calls reach it again; 5s leaves
	// room for a loaded machine, far below gRPC's default two-minute backoff.
	if err := testwait.Until(5*time.Second, func() error {
		resp, err := http.Post("http://"+doc.Addresses["http"]+"/v1/auth/email/start", "application/json",
			strings.NewReader(`{"email": "user@example.com"}`))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errStatus(resp.StatusCode)
		}
		return nil
	}); err != nil {
		t.Errorf("POST /v1/auth/email/start after authsession came back: %v", err)
	}
}

// TestRecoversFromARedisRestart checks that a Redis restarted on the same
// address, with its data or empty, is used again without restarting the
// gateway: the first calls after readiness returns succeed, and a session
// lost with the data is refused.
func TestRecoversFromARedisRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		keepData bool
		wantMe   int
	}{
		{"with its data", true, http.StatusOK},
		{"empty", false, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, key, ready := stackEnv(t)
			env["GATEWAY_READY_TIMEOUT"] = readyBound.String()
			mr := miniredis.NewMiniRedis()
			if err := mr.Start(); err != nil {
				t.Fatalf("start redis: %v", err)
			}
			t.Cleanup(mr.Close)
			gatewaytest.PutSession(t, mr, gatewaytest.ActiveSession("sess-1", "user-1"))
			env["GATEWAY_REDIS_URL"] = "redis://" + mr.Addr() + "/0"
			doc := start(t, env).waitReady(t, ready)
			health := healthClient(t, doc.Addresses["grpc"])
			token := key.Sign(t, gatewaytest.AccessClaims("user-1", "sess-1", time.Now()))
			me := func() int {
				status, _ := get(t, "http://"+doc.Addresses["http"]+"/v1/me", http.Header{"Authorization": {"Bearer " + token}})
				return status
			}
			for range 4 { // several pooled connections, which the restart will break
				if got := me(); got != http.StatusOK {
					t.Fatalf("GET /v1/me before the restart = %d, want 200", got)
				}
			}

			mr.Close()
			got, _ := probe(t, doc, health)
			wantReadiness(t, got, "redis")
			if got := me(); got != http.StatusServiceUnavailable {
				t.Errorf("GET /v1/me with Redis down = %d, want 503", got)
			}
			if !tt.keepData {
				mr.FlushAll()
			}
			if err := mr.Restart(); err != nil {
				t.Fatalf("restart redis: %v", err)
			}
			if err := testwait.Until(5*time.Second, func() error {
				if got, _ := probe(t, doc, health); got.httpStatus != http.StatusOK {
					return errStatus(got.httpStatus)
				}
				return nil
			}); err != nil {
				t.Fatalf("GET /readyz after Redis came back: %v", err)
			}
			got, _ = probe(t, doc, health)
			wantReadiness(t, got)
			for i := range 4 {
				if got := me(); got != tt.wantMe {
					t.Errorf("GET /v1/me call %d after the restart = %d, want %d", i+1, got, tt.wantMe)
				}
			}
		})
	}
}

type errStatus int

func (e errStatus) Error() string { return "status " + strconv.Itoa(int(e)) }
