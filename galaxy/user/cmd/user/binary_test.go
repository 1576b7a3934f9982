package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"galaxy/platform/logging/logtest"
	"galaxy/platform/testwait"
	"galaxy/user/internal/authsessiontest"
)

// TestBinary runs the built service as the harness does, for what only a
// real process shows: the ready file with its own pid, every line on
// stderr JSON of the user service (the libraries' own complaints
// included), and SIGTERM making main return with exit code 0, its last
// line "stopped".
func TestBinary(t *testing.T) {
	t.Parallel()
	binary := filepath.Join(t.TempDir(), "user")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		t.Fatalf("build user: %v\n%s", err, out)
	}
	mr := miniredis.RunT(t)
	auth := authsessiontest.Down(t) // the gRPC library complains
	env := testEnv(t, mr.Addr(), auth.Addr())
	env["USER_LOG_LEVEL"] = "info"
	cmd := exec.Command(binary)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr := &logtest.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start user: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})

	doc := testwait.ReadyFile(t, env["USER_READY_FILE"], 10*time.Second, done, stderr)
	if doc.Service != "user" || doc.PID != cmd.Process.Pid {
		t.Fatalf("ready file = %+v, want user with pid %d", doc, cmd.Process.Pid)
	}
	_, user := post(t, "http://"+doc.Addresses["http"]+"/v1/users/resolve", `{"email": "ada@example.com"}`)
	post(t, "http://"+doc.Addresses["admin"]+"/v1/admin/users/"+user["id"].(string)+"/disable", "")
	mr.Close() // Redis gone too: its client complains

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want code 0; stderr:\n%s", err, stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("user still running 10s after SIGTERM; stderr:\n%s", stderr)
	}

	logs := stderr.String()
	for _, want := range []string{`"component":"grpc"`, `"msg":"revocation not delivered; retrying"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	var last map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		last = nil
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Errorf("stderr line %q is not JSON", sc.Text())
		} else if last["service"] != "user" {
			t.Errorf("log line %q lacks service=user", sc.Text())
		}
	}
	if last["msg"] != "stopped" {
		t.Errorf("last line = %v, want stopped", last)
	}
}
