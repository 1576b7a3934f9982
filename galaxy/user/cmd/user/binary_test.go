package main

import (
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"galaxy/platform/binarytest"
	"galaxy/user/internal/authsessiontest"
)

// TestBinary runs the built service as the harness does, for what only a
// real process shows: the ready file with its own pid, every line on
// stderr JSON of the user service (the libraries' own complaints
// included), and SIGTERM making main return with exit code 0, its last
// line "stopped".
func TestBinary(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	auth := authsessiontest.Down(t) // the gRPC library complains
	env := testEnv(t, mr.Addr(), auth.Addr())
	env["USER_LOG_LEVEL"] = "info"
	p := binarytest.Start(t, "USER_READY_FILE", env)
	if p.Doc.Service != "user" || p.Doc.PID != p.Cmd.Process.Pid {
		t.Fatalf("ready file = %+v, want user with pid %d", p.Doc, p.Cmd.Process.Pid)
	}
	_, user := post(t, "http://"+p.Doc.Addresses["http"]+"/v1/users/resolve", `{"email": "ada@example.com"}`)
	post(t, "http://"+p.Doc.Addresses["admin"]+"/v1/admin/users/"+user["id"].(string)+"/disable", "")
	mr.Close() // Redis gone too: its client complains

	if code := p.Terminate(t, 10*time.Second); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0; stderr:\n%s", code, p.Stderr)
	}
	logs := p.Stderr.String()
	for _, want := range []string{`"component":"grpc"`, `"msg":"revocation not delivered; retrying"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if last := p.LastLine(t, "user"); last["msg"] != "stopped" {
		t.Errorf("last line = %v, want stopped", last)
	}
}
