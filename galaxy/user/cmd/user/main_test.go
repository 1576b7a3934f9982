package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"galaxy/platform/binarytest"
	"galaxy/platform/envconfig"
	"galaxy/platform/readyfile"
	"galaxy/platform/testwait"
	"galaxy/user/internal/authsessiontest"
	"galaxy/user/internal/userstest"
)

// TestMain routes the libraries' process-wide loggers before any test
// starts: run routes them too, and the tests' own clients then never race
// with the one write that installs the route. It removes the binary the
// binary test built.
func TestMain(m *testing.M) {
	userstest.QuietLibraries()
	os.Exit(binarytest.Run(m))
}

// testEnv returns a complete environment against redisAddr and the fake
// authsession at authAddr.
func testEnv(t *testing.T, redisAddr, authAddr string) map[string]string {
	t.Helper()
	return map[string]string{
		"USER_HTTP_ADDR":            "127.0.0.1:0",
		"USER_ADMIN_ADDR":           "127.0.0.1:0",
		"USER_REDIS_URL":            "redis://" + redisAddr + "/0",
		"USER_AUTHSESSION_ADDR":     authAddr,
		"USER_AUTHSESSION_TIMEOUT":  "500ms",
		"USER_REVOCATION_WAIT":      "300ms",
		"USER_REVOCATION_RETRY_MIN": "10ms",
		"USER_REVOCATION_RETRY_MAX": "100ms",
		"USER_READY_FILE":           filepath.Join(t.TempDir(), "ready.json"),
		"USER_SHUTDOWN_TIMEOUT":     "5s",
		"USER_LOG_LEVEL":            "error",
	}
}

// start runs the service on env until the returned stop is called (or the
// test ends) and returns its ready file; stop fails the test unless run
// returns nil.
func start(t *testing.T, env map[string]string) (readyfile.Document, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan error, 1)
	go func() { exited <- run(ctx, envconfig.Map(env)) }()
	var stopped bool
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("run() = %v after cancellation, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("run did not return within 10s of cancellation")
		}
	}
	t.Cleanup(stop)
	return testwait.ReadyFile(t, env["USER_READY_FILE"], 10*time.Second, exited, nil), stop
}

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	resp, err := http.Post(url, "application/json", r)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestRunServesBothAPIsUntilCancelled(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	auth := authsessiontest.Start(t, 0)
	env := testEnv(t, mr.Addr(), auth.Addr())
	doc, stop := start(t, env)
	if doc.Service != "user" || doc.PID != os.Getpid() || doc.Addresses["http"] == "" || doc.Addresses["admin"] == "" ||
		doc.Addresses["http"] == doc.Addresses["admin"] {
		t.Fatalf("ready file = %+v, want service user, our pid and two addresses, http and admin", doc)
	}
	public, admin := "http://"+doc.Addresses["http"], "http://"+doc.Addresses["admin"]

	status, user := post(t, public+"/v1/users/resolve", `{"email": "Ada@Example.com"}`)
	if status != http.StatusCreated || user["email"] != "ada@example.com" {
		t.Fatalf("resolve = %d %v, want 201 and the normalised email", status, user)
	}
	id := user["id"].(string)
	status, disabled := post(t, admin+"/v1/admin/users/"+id+"/disable", "")
	if status != http.StatusOK || disabled["status"] != "disabled" {
		t.Fatalf("disable = %d %v, want 200, disabled", status, disabled)
	}
	if !auth.WaitAcked(id, time.Second) {
		t.Errorf("authsession calls = %+v, want an acknowledged one for %s", auth.Calls(), id)
	}
	for _, url := range []string{public + "/readyz", admin + "/healthz"} {
		resp, err := http.Get(url)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %v, %v; want 200", url, resp, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	stop()
}

// TestRunResumesAPendingRevocation: the service stops with a revocation
// pending (authsession down); started again on the same Redis with
// authsession back, it delivers the revocation by itself.
func TestRunResumesAPendingRevocation(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	auth := authsessiontest.Down(t)
	env := testEnv(t, mr.Addr(), auth.Addr())
	doc, stop := start(t, env)
	_, user := post(t, "http://"+doc.Addresses["http"]+"/v1/users/resolve", `{"email": "ada@example.com"}`)
	id := user["id"].(string)
	status, body := post(t, "http://"+doc.Addresses["admin"]+"/v1/admin/users/"+id+"/disable", "")
	if status != http.StatusAccepted || body["revocation"].(map[string]any)["state"] != "pending" {
		t.Fatalf("disable with authsession down = %d %v, want 202, pending", status, body)
	}
	stop()

	auth.Up()
	again := testEnv(t, mr.Addr(), auth.Addr())
	start(t, again)
	if !auth.WaitAcked(id, 5*time.Second) {
		t.Fatalf("the restarted service did not deliver the pending revocation within 5s; calls %+v", auth.Calls())
	}
}

// TestRunDrainFinishesADisableInFlight: SIGTERM (ctx's end) comes while a
// disable waits for authsession's acknowledgement. Both listeners, public
// and admin, refuse new connections at once; the deliverer goes on through
// the drain, so the acknowledgement still comes and the disable is
// answered 200 with its revocation done; then run returns nil.
func TestRunDrainFinishesADisableInFlight(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	auth := authsessiontest.Start(t, 0)
	auth.Delay(250 * time.Millisecond) // within USER_AUTHSESSION_TIMEOUT, 500ms
	env := testEnv(t, mr.Addr(), auth.Addr())
	env["USER_REVOCATION_WAIT"] = "5s"
	doc, stop := start(t, env)
	public, admin := "http://"+doc.Addresses["http"], "http://"+doc.Addresses["admin"]
	_, user := post(t, public+"/v1/users/resolve", `{"email": "ada@example.com"}`)
	id := user["id"].(string)

	type answer struct {
		status int
		state  any
	}
	disabled := make(chan answer, 1)
	go func() {
		resp, err := http.Post(admin+"/v1/admin/users/"+id+"/disable", "application/json", nil)
		if err != nil {
			disabled <- answer{state: err.Error()}
			return
		}
		defer resp.Body.Close()
		var body struct {
			Revocation map[string]any `json:"revocation"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		disabled <- answer{resp.StatusCode, body.Revocation["state"]}
	}()
	if err := testwait.Until(5*time.Second, func() error {
		resp, err := http.Get(admin + "/v1/admin/users/" + id)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var u map[string]any
		json.NewDecoder(resp.Body).Decode(&u)
		if u["status"] != "disabled" {
			return fmt.Errorf("user = %v, want the disable stored", u)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		stop() // fails the test unless run returns nil
	}()
	if err := testwait.Until(5*time.Second, func() error {
		for _, addr := range doc.Addresses {
			if conn, err := net.Dial("tcp", addr); err == nil {
				conn.Close()
				return fmt.Errorf("%s still accepts connections", addr)
			}
		}
		return nil
	}); err != nil {
		t.Errorf("once the drain began: %v", err)
	}
	if got, want := testwait.Receive(t, disabled, 10*time.Second, "the disable's answer"), (answer{http.StatusOK, "done"}); got != want {
		t.Errorf("the disable in flight at SIGTERM = %+v, want %+v", got, want)
	}
	testwait.Receive(t, stopped, 15*time.Second, "run's return")
}

func TestRunConfigurationErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		edit     func(map[string]string)
		wantVars []string
	}{
		{"nothing set", func(m map[string]string) { clear(m) }, []string{"USER_REDIS_URL", "USER_AUTHSESSION_ADDR"}},
		{"bad duration", func(m map[string]string) { m["USER_REVOCATION_WAIT"] = "soon" }, []string{"USER_REVOCATION_WAIT"}},
		{"bad admin address", func(m map[string]string) { m["USER_ADMIN_ADDR"] = "127.0.0.1:99999" }, []string{"USER_ADMIN_ADDR"}},
		{"authsession without host", func(m map[string]string) { m["USER_AUTHSESSION_ADDR"] = ":9090" }, []string{"USER_AUTHSESSION_ADDR"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := testEnv(t, "127.0.0.1:1", "127.0.0.1:1")
			tc.edit(env)
			err := run(context.Background(), envconfig.Map(env))
			var cfgErr *envconfig.Error
			if !errors.As(err, &cfgErr) || len(cfgErr.Problems) != len(tc.wantVars) {
				t.Fatalf("run() = %v, want one problem per %q", err, tc.wantVars)
			}
			for i, v := range tc.wantVars {
				if !strings.Contains(cfgErr.Problems[i].Error(), v) {
					t.Errorf("problem %q does not name %s", cfgErr.Problems[i], v)
				}
			}
		})
	}
}

func TestRunAddressInUse(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	auth := authsessiontest.Start(t, 0)
	doc, _ := start(t, testEnv(t, mr.Addr(), auth.Addr()))
	for _, name := range []string{"USER_HTTP_ADDR", "USER_ADMIN_ADDR"} {
		second := testEnv(t, mr.Addr(), auth.Addr())
		second[name] = doc.Addresses["admin"]
		err := run(context.Background(), envconfig.Map(second))
		var cfgErr *envconfig.Error
		if err == nil || errors.As(err, &cfgErr) {
			t.Errorf("run() with %s on a busy address = %v, want a listen error", name, err)
		}
		if _, statErr := os.Stat(second["USER_READY_FILE"]); statErr == nil {
			t.Errorf("a ready file was written although the %s listener failed", name)
		}
	}
}
