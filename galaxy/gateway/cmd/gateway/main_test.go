package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	"galaxy/platform/readyfile"
)

// binary is the gateway built once for these tests.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "gateway-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "gateway")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gateway:", err)
		return 1
	}
	return m.Run()
}

// process is a running gateway.
type process struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
}

// syncBuffer is a buffer written by the process's output copier and read by
// the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func start(t *testing.T, env map[string]string) *process {
	t.Helper()
	cmd := exec.Command(binary)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &process{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// exitCode waits for the process to end within d.
func (p *process) exitCode(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		if err != nil {
			t.Fatalf("wait: %v", err)
		}
		return 0
	case <-time.After(d):
		t.Fatalf("gateway still running after %v; stderr:\n%s", d, p.stderr)
		return -1
	}
}

// waitReady waits for the ready file, failing early if the process exits.
func (p *process) waitReady(t *testing.T, path string) readyfile.Document {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if doc, err := readyfile.Read(path); err == nil {
			return doc
		}
		select {
		case err := <-p.done:
			t.Fatalf("gateway exited before ready (%v); stderr:\n%s", err, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no ready file after 10s; stderr:\n%s", p.stderr)
	return readyfile.Document{}
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

func TestServesUntilSIGTERM(t *testing.T) {
	t.Parallel()
	env, key, ready := stackEnv(t)
	p := start(t, env)
	doc := p.waitReady(t, ready)
	if doc.Service != "gateway" || doc.PID != p.cmd.Process.Pid || doc.Addresses["http"] == "" || doc.Addresses["grpc"] == "" {
		t.Fatalf("ready file = %+v, want gateway, pid %d, http and grpc addresses", doc, p.cmd.Process.Pid)
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

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if code := p.exitCode(t, 10*time.Second); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0; stderr:\n%s", code, p.stderr)
	}

	logs := p.stderr.String()
	if strings.Contains(logs, token) {
		t.Errorf("logs hold the access token")
	}
	wantJSONLines(t, logs)
}

// wantJSONLines checks every line of logs is a JSON object of the gateway.
func wantJSONLines(t *testing.T, logs string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Errorf("stderr line %q is not JSON", sc.Text())
		} else if line["service"] != "gateway" {
			t.Errorf("log line %q lacks service=gateway", sc.Text())
		}
	}
}

// TestDependenciesDown checks a gateway whose dependencies are gone: it
// starts, reports not ready naming the dependency, and even the Redis and
// gRPC libraries' own complaints are JSON log lines.
func TestDependenciesDown(t *testing.T) {
	t.Parallel()
	env, _, ready := stackEnv(t)
	env["GATEWAY_REDIS_URL"] = "redis://" + gatewaytest.DeadAddr(t) + "/0"
	env["GATEWAY_AUTHSESSION_ADDR"] = gatewaytest.DeadAddr(t)
	p := start(t, env)
	base := "http://" + p.waitReady(t, ready).Addresses["http"]
	status, body := get(t, base+"/readyz", nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"dependency":"redis"`) {
		t.Errorf("GET /readyz = %d %s, want 503 naming redis", status, body)
	}
	if status, body := get(t, base+"/healthz", nil); status != http.StatusOK {
		t.Errorf("GET /healthz = %d %s, want 200", status, body)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("SIGINT: %v", err)
	}
	if code := p.exitCode(t, 10*time.Second); code != 0 {
		t.Errorf("exit code after SIGINT = %d, want 0; stderr:\n%s", code, p.stderr)
	}
	logs := p.stderr.String()
	for _, component := range []string{`"component":"redis"`, `"component":"grpc"`} {
		if !strings.Contains(logs, component) {
			t.Errorf("logs lack a %s line:\n%s", component, logs)
		}
	}
	wantJSONLines(t, logs)
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
			p := start(t, tt.env(t))
			if code := p.exitCode(t, 10*time.Second); code != 2 {
				t.Errorf("exit code = %d, want 2; stderr:\n%s", code, p.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(p.stderr.String(), w) {
					t.Errorf("stderr = %q, want it to mention %q", p.stderr, w)
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
	env, _, _ := stackEnv(t)
	env["GATEWAY_HTTP_ADDR"] = ln.Addr().String()
	p := start(t, env)
	if code := p.exitCode(t, 10*time.Second); code != 1 {
		t.Errorf("exit code = %d, want 1; stderr:\n%s", code, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "address already in use") {
		t.Errorf("stderr = %q, want it to say the address is in use", p.stderr)
	}
}
