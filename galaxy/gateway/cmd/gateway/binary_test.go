package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"galaxy/gateway/internal/gatewaytest"
	"galaxy/platform/logging/logtest"
	"galaxy/platform/readyfile"
)

// TestBinary runs the built gateway as the harness does: what only a real
// process shows. It writes the ready file with its own pid once serving,
// every line on stderr is JSON of the gateway (the Redis and gRPC
// libraries' own complaints included) and holds no token, and SIGTERM
// makes main return with exit code 0.
func TestBinary(t *testing.T) {
	t.Parallel()
	binary := filepath.Join(t.TempDir(), "gateway")
	build := exec.Command("go", "build", "-o", binary, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build gateway: %v\n%s", err, out)
	}

	key := gatewaytest.NewKey(t, "key-1")
	mr := gatewaytest.Redis(t)
	gatewaytest.PutSession(t, mr, gatewaytest.ActiveSession("sess-1", "user-1"))
	ready := filepath.Join(t.TempDir(), "ready.json")
	cmd := exec.Command(binary)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"GATEWAY_HTTP_ADDR=127.0.0.1:0",
		"GATEWAY_GRPC_ADDR=127.0.0.1:0",
		"GATEWAY_AUTHSESSION_ADDR=" + gatewaytest.DeadAddr(t),
		"GATEWAY_REDIS_URL=redis://" + mr.Addr() + "/0",
		"GATEWAY_JWKS_FILE=" + gatewaytest.WriteFile(t, "jwks.json", gatewaytest.JWKS(t, key)),
		"GATEWAY_READY_FILE=" + ready,
		"GATEWAY_SHUTDOWN_TIMEOUT=5s",
	}
	stderr := &logtest.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})

	var doc readyfile.Document
	for deadline := time.Now().Add(10 * time.Second); ; {
		var err error
		if doc, err = readyfile.Read(ready); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("gateway exited before ready (%v); stderr:\n%s", err, stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready file after 10s; stderr:\n%s", stderr)
		}
	}
	if doc.Service != "gateway" || doc.PID != cmd.Process.Pid || doc.Addresses["http"] == "" || doc.Addresses["grpc"] == "" {
		t.Fatalf("ready file = %+v, want gateway, pid %d, http and grpc addresses", doc, cmd.Process.Pid)
	}
	base := "http://" + doc.Addresses["http"]
	token := key.Sign(t, gatewaytest.AccessClaims("user-1", "sess-1", time.Now()))
	if status, body := get(t, base+"/v1/me", http.Header{"Authorization": {"Bearer " + token}}); status != http.StatusOK {
		t.Errorf("GET /v1/me = %d %s, want 200", status, body)
	}
	mr.Close() // Redis gone too: its client complains
	if status, body := get(t, base+"/readyz", nil); status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz = %d %s, want 503", status, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want code 0; stderr:\n%s", err, stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("gateway still running 10s after SIGTERM; stderr:\n%s", stderr)
	}

	logs := stderr.String()
	if strings.Contains(logs, token) {
		t.Error("logs hold the access token")
	}
	for _, component := range []string{`"component":"redis"`, `"component":"grpc"`} {
		if !strings.Contains(logs, component) {
			t.Errorf("logs lack a %s line:\n%s", component, logs)
		}
	}
	var last map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		last = nil
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Errorf("stderr line %q is not JSON", sc.Text())
		} else if last["service"] != "gateway" {
			t.Errorf("log line %q lacks service=gateway", sc.Text())
		}
	}
	if last["msg"] != "stopped" || last["level"] != "INFO" {
		t.Errorf("last log line = %v, want INFO stopped", last)
	}
}
