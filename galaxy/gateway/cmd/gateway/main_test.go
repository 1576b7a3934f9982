package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"galaxy/gateway/api/gatewayv1"
	"galaxy/gateway/internal/gatewaytest"
	"galaxy/platform/binarytest"
	"galaxy/platform/envconfig"
	"galaxy/platform/lifecycle"
	"galaxy/platform/logging"
	"galaxy/platform/readyfile"
	"galaxy/platform/testwait"
)

// TestMain routes gRPC's process-wide logger before any test starts: run
// routes it too, and the tests' own gRPC clients then never race with the
// one write that installs the route. It removes the binary the binary
// tests built.
func TestMain(m *testing.M) {
	logging.RouteGRPC(slog.New(slog.DiscardHandler))
	os.Exit(binarytest.Run(m))
}

// process is a gateway run in-process by run, as main runs it.
type process struct {
	stop context.CancelFunc // what SIGTERM does to main's context
	done chan error         // run's result
}

// start runs the gateway with env until the test ends.
func start(t *testing.T, env map[string]string) *process {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &process{stop: cancel, done: make(chan error, 1)}
	go func() { p.done <- run(ctx, envconfig.Map(env)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Error("run did not return within 10s of cancellation")
		}
	})
	return p
}

// result waits for run to return within d.
func (p *process) result(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // the cleanup waits for it too
		return err
	case <-time.After(d):
		t.Fatalf("gateway still running after %v", d)
		return nil
	}
}

// waitReady waits for the ready file, failing early if run returns.
func (p *process) waitReady(t *testing.T, path string) readyfile.Document {
	t.Helper()
	return testwait.ReadyFile(t, path, 10*time.Second, p.done, nil)
}

// exit is what main makes of run's result: the exit code and stderr.
func exit(err error) (int, string) {
	var stderr bytes.Buffer
	code := lifecycle.Exit(err, name, &stderr, slog.New(slog.DiscardHandler))
	return code, stderr.String()
}

// stackEnv is the environment of a gateway wired to a fresh Redis and fake
// authsession, listening on free ports.
func stackEnv(t *testing.T) (map[string]string, gatewaytest.Key, string) {
	t.Helper()
	key := gatewaytest.NewKey(t, "key-1")
	mr := gatewaytest.Redis(t)
	gatewaytest.PutSession(t, mr, gatewaytest.ActiveSession("sess-1", "user-1"))
	ready := filepath.Join(t.TempDir(), "ready.json")
	return map[string]string{
		"GATEWAY_HTTP_ADDR":        "127.0.0.1:0",
		"GATEWAY_GRPC_ADDR":        "127.0.0.1:0",
		"GATEWAY_AUTHSESSION_ADDR": gatewaytest.NewAuthSession().Serve(t),
		"GATEWAY_REDIS_URL":        "redis://" + mr.Addr() + "/0",
		"GATEWAY_JWKS_FILE":        gatewaytest.WriteFile(t, "jwks.json", gatewaytest.JWKS(t, key)),
		"GATEWAY_READY_FILE":       ready,
		"GATEWAY_SHUTDOWN_TIMEOUT": "5s",
		"GATEWAY_LOG_LEVEL":        "error",
	}, key, ready
}

func get(t *testing.T, url string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	req.Header = header
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	return resp.StatusCode, body.String()
}

func TestRunServesUntilCancelled(t *testing.T) {
	t.Parallel()
	env, key, ready := stackEnv(t)
	p := start(t, env)
	doc := p.waitReady(t, ready)
	if doc.Service != "gateway" || doc.PID != os.Getpid() || doc.Addresses["http"] == "" || doc.Addresses["grpc"] == "" {
		t.Fatalf("ready file = %+v, want gateway, our pid, http and grpc addresses", doc)
	}
	base := "http://" + doc.Addresses["http"]

	for _, path := range []string{"/healthz", "/readyz"} {
		if status, body := get(t, base+path, nil); status != http.StatusOK {
			t.Errorf("GET %s = %d %s, want 200", path, status, body)
		}
	}
	token := key.Sign(t, gatewaytest.AccessClaims("user-1", "sess-1", time.Now()))
	if status, body := get(t, base+"/v1/me", http.Header{"Authorization": {"Bearer " + token}}); status != http.StatusOK || !strings.Contains(body, `"user_id":"user-1"`) {
		t.Errorf("GET /v1/me = %d %s, want user-1's session", status, body)
	}

	cc, err := grpc.NewClient(doc.Addresses["grpc"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial grpc: %v", err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("grpc health = %v, %v; want SERVING", resp, err)
	}

	p.stop()
	err = p.result(t, 10*time.Second)
	if code, _ := exit(err); err != nil || code != 0 {
		t.Errorf("run() = %v after cancellation, exit code %d; want nil and 0", err, code)
	}
}

// TestDependenciesDown checks a gateway whose dependencies are gone: it
// starts, reports not ready naming the dependency and stays live.
func TestDependenciesDown(t *testing.T) {
	t.Parallel()
	env, _, ready := stackEnv(t)
	env["GATEWAY_REDIS_URL"] = "redis://" + gatewaytest.DeadAddr(t) + "/0"
	env["GATEWAY_AUTHSESSION_ADDR"] = gatewaytest.DeadAddr(t)
	base := "http://" + start(t, env).waitReady(t, ready).Addresses["http"]
	status, body := get(t, base+"/readyz", nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"dependency":"redis"`) {
		t.Errorf("GET /readyz = %d %s, want 503 naming redis", status, body)
	}
	if status, body := get(t, base+"/healthz", nil); status != http.StatusOK {
		t.Errorf("GET /healthz = %d %s, want 200", status, body)
	}
}

func TestConfigurationErrorsExit2(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  func(t *testing.T) map[string]string
		want []string // each a line of stderr
	}{
		{"nothing set", func(*testing.T) map[string]string { return nil }, []string{
			"GATEWAY_AUTHSESSION_ADDR is required", "GATEWAY_REDIS_URL is required", "GATEWAY_JWKS_FILE is required",
		}},
		{"bad timeout", func(t *testing.T) map[string]string {
			env, _, _ := stackEnv(t)
			env["GATEWAY_REDIS_TIMEOUT"] = "fast"
			return env
		}, []string{"GATEWAY_REDIS_TIMEOUT"}},
		{"malformed key set", func(t *testing.T) map[string]string {
			env, _, _ := stackEnv(t)
			env["GATEWAY_JWKS_FILE"] = gatewaytest.WriteFile(t, "jwks.json", []byte(`{"keys": []}`))
			return env
		}, []string{"GATEWAY_JWKS_FILE", "empty"}},
		{"bad login limits", func(t *testing.T) map[string]string {
			env, _, _ := stackEnv(t)
			env["GATEWAY_LOGIN_RATE_PER_MINUTE"] = "0"
			env["GATEWAY_LOGIN_BURST"] = "lots"
			return env
		}, []string{"GATEWAY_LOGIN_RATE_PER_MINUTE", "GATEWAY_LOGIN_BURST"}},
		{"missing key set", func(t *testing.T) map[string]string {
			env, _, _ := stackEnv(t)
			env["GATEWAY_JWKS_FILE"] = filepath.Join(t.TempDir(), "absent.json")
			return env
		}, []string{"GATEWAY_JWKS_FILE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stderr := exit(start(t, tt.env(t)).result(t, 10*time.Second))
			if code != 2 {
				t.Errorf("exit code = %d, want 2; stderr:\n%s", code, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr = %q, want it to mention %q", stderr, w)
				}
			}
			for _, line := range lines {
				if !strings.HasPrefix(line, "gateway: configuration: GATEWAY_") {
					t.Errorf("stderr line %q, want \"gateway: configuration: GATEWAY_...\"", line)
				}
			}
		})
	}
}

// TestLoginRateLimitAcrossTransports checks the limit the settings give: a
// burst shared by HTTP and gRPC calls from one address, then 429 with
// Retry-After and RESOURCE_EXHAUSTED with RetryInfo.
func TestLoginRateLimitAcrossTransports(t *testing.T) {
	t.Parallel()
	env, _, ready := stackEnv(t)
	env["GATEWAY_LOGIN_RATE_PER_MINUTE"] = "1"
	env["GATEWAY_LOGIN_BURST"] = "2"
	p := start(t, env)
	doc := p.waitReady(t, ready)
	startHTTP := func() *http.Response {
		t.Helper()
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Post("http://"+doc.Addresses["http"]+"/v1/auth/email/start",
			"application/json", strings.NewReader(`{"email": "user@example.com"}`))
		if err != nil {
			t.Fatalf("POST start: %v", err)
		}
		resp.Body.Close()
		return resp
	}
	cc, err := grpc.NewClient(doc.Addresses["grpc"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial grpc: %v", err)
	}
	defer cc.Close()
	client := gatewayv1.NewGatewayServiceClient(cc)
	startGRPC := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err := client.StartEmailLogin(ctx, &gatewayv1.StartEmailLoginRequest{Email: "user@example.com"})
		return err
	}

	if resp := startHTTP(); resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP start within the burst: status = %d, want 200", resp.StatusCode)
	}
	if err := startGRPC(); err != nil {
		t.Fatalf("gRPC start within the burst: %v", err)
	}
	resp := startHTTP()
	if retry, err := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || err != nil || retry < 1 || retry > 60 {
		t.Errorf("HTTP start over the burst: status %d Retry-After %q, want 429 and 1 to 60 seconds", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	err = startGRPC()
	st := status.Convert(err)
	var delay time.Duration
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.RetryInfo); ok {
			delay = info.GetRetryDelay().AsDuration()
		}
	}
	if st.Code() != codes.ResourceExhausted || delay < time.Second || delay > time.Minute {
		t.Errorf("gRPC start over the burst: %v with retry delay %v, want RESOURCE_EXHAUSTED and 1s to 1m", err, delay)
	}
}

func TestAddressInUseExit1(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	env, _, ready := stackEnv(t)
	env["GATEWAY_HTTP_ADDR"] = ln.Addr().String()
	err = start(t, env).result(t, 10*time.Second)
	var cfgErr *envconfig.Error
	if code, _ := exit(err); code != 1 || errors.As(err, &cfgErr) {
		t.Errorf("run() = %v, exit code %d; want a listen error and 1", err, code)
	}
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("run() = %v, want it to say the address is in use", err)
	}
	if _, statErr := os.Stat(ready); statErr == nil {
		t.Error("a ready file was written although the listener failed")
	}
}
