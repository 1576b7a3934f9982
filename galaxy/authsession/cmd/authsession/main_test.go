package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/authsession/internal/authtest"
	"galaxy/platform/envconfig"
	"galaxy/platform/logging"
	"galaxy/platform/readyfile"
	"galaxy/platform/testwait"
)

// TestMain routes gRPC's process-wide logger before any test starts: run
// routes it too, and the tests' own gRPC clients then never race with the
// one write that installs the route.
func TestMain(m *testing.M) {
	logging.RouteGRPC(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

// writeKey writes key as a PKCS#8 PEM file and returns its path.
func writeKey(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "signing.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testEnv returns a complete environment against miniredis and fakes.
func testEnv(t *testing.T) (map[string]string, *authtest.Mail) {
	t.Helper()
	mr := miniredis.RunT(t)
	mail := authtest.NewMail(t)
	users := authtest.NewUsers(t)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	return map[string]string{
		"AUTHSESSION_GRPC_ADDR":        "127.0.0.1:0",
		"AUTHSESSION_REDIS_URL":        "redis://" + mr.Addr() + "/0",
		"AUTHSESSION_MAIL_URL":         mail.URL,
		"AUTHSESSION_USER_URL":         users.URL,
		"AUTHSESSION_SIGNING_KEY_FILE": writeKey(t, key),
		"AUTHSESSION_SIGNING_KEY_ID":   "k1",
		"AUTHSESSION_READY_FILE":       filepath.Join(t.TempDir(), "ready.json"),
		"AUTHSESSION_SHUTDOWN_TIMEOUT": "5s",
		"AUTHSESSION_LOG_LEVEL":        "error",
	}, mail
}

// waitReady waits for the ready file that run publishes, failing early if
// run returns (exited).
func waitReady(t *testing.T, path string, exited chan error) readyfile.Document {
	t.Helper()
	return testwait.ReadyFile(t, path, 10*time.Second, exited, nil)
}

func TestRunServesUntilCancelled(t *testing.T) {
	t.Parallel()
	env, mail := testEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exited := make(chan error, 1)
	go func() { exited <- run(ctx, envconfig.Map(env)) }()

	doc := waitReady(t, env["AUTHSESSION_READY_FILE"], exited)
	if doc.Service != "authsession" || doc.PID != os.Getpid() || doc.Addresses["grpc"] == "" {
		t.Fatalf("ready file = %+v, want service authsession, our pid and a grpc address", doc)
	}

	conn, err := grpc.NewClient(doc.Addresses["grpc"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := authsessionv1.NewAuthSessionServiceClient(conn)
	start, err := client.StartEmailLogin(ctx, &authsessionv1.StartEmailLoginRequest{Email: "alice@example.com"})
	if err != nil {
		t.Fatalf("StartEmailLogin: %v", err)
	}
	res, err := client.ConfirmEmailLogin(ctx, &authsessionv1.ConfirmEmailLoginRequest{
		ChallengeId: start.GetChallengeId(), Code: mail.CodeFor(t, start.GetChallengeId()),
	})
	if err != nil {
		t.Fatalf("ConfirmEmailLogin: %v", err)
	}
	if res.GetTokens().GetAccessToken() == "" {
		t.Error("no access token")
	}
	if _, err := client.RefreshSession(ctx, &authsessionv1.RefreshSessionRequest{RefreshToken: res.GetTokens().GetRefreshToken()}); err != nil {
		t.Errorf("RefreshSession: %v", err)
	}
	_, err = client.StartEmailLogin(ctx, &authsessionv1.StartEmailLoginRequest{Email: "alice@example.com"})
	if got := status.Code(err); got != codes.ResourceExhausted {
		t.Errorf("second StartEmailLogin within the resend cooldown: %v, want ResourceExhausted", err)
	}

	cancel()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("run() = %v after cancellation, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return within 10s of cancellation")
	}
}

func TestRunConfigurationErrors(t *testing.T) {
	t.Parallel()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	os.WriteFile(garbage, []byte("not a key"), 0o600)

	cases := []struct {
		name     string
		edit     func(map[string]string)
		wantVars []string
	}{
		{"nothing set", func(m map[string]string) { clear(m) }, []string{
			"AUTHSESSION_REDIS_URL", "AUTHSESSION_MAIL_URL", "AUTHSESSION_USER_URL",
			"AUTHSESSION_SIGNING_KEY_FILE", "AUTHSESSION_SIGNING_KEY_ID",
		}},
		{"bad duration", func(m map[string]string) { m["AUTHSESSION_CODE_TTL"] = "soon" }, []string{"AUTHSESSION_CODE_TTL"}},
		{"bad gRPC address", func(m map[string]string) { m["AUTHSESSION_GRPC_ADDR"] = "127.0.0.1:99999" }, []string{"AUTHSESSION_GRPC_ADDR"}},
		{"gRPC port by name", func(m map[string]string) { m["AUTHSESSION_GRPC_ADDR"] = ":grpc" }, []string{"AUTHSESSION_GRPC_ADDR"}},
		{"missing key file", func(m map[string]string) { m["AUTHSESSION_SIGNING_KEY_FILE"] = "/no/such/key.pem" }, []string{"AUTHSESSION_SIGNING_KEY_FILE"}},
		{"not a key", func(m map[string]string) { m["AUTHSESSION_SIGNING_KEY_FILE"] = garbage }, []string{"AUTHSESSION_SIGNING_KEY_FILE"}},
		{"not Ed25519", func(m map[string]string) { m["AUTHSESSION_SIGNING_KEY_FILE"] = writeKey(t, ecKey) }, []string{"AUTHSESSION_SIGNING_KEY_FILE"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, _ := testEnv(t)
			tc.edit(env)
			err := run(context.Background(), envconfig.Map(env))
			var cfgErr *envconfig.Error
			if !errors.As(err, &cfgErr) {
				t.Fatalf("run() = %v, want a configuration error", err)
			}
			if len(cfgErr.Problems) != len(tc.wantVars) {
				t.Fatalf("problems = %q, want one per %q", cfgErr.Problems, tc.wantVars)
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
	env, _ := testEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exited := make(chan error, 1)
	go func() { exited <- run(ctx, envconfig.Map(env)) }()
	doc := waitReady(t, env["AUTHSESSION_READY_FILE"], exited)

	second, _ := testEnv(t)
	second["AUTHSESSION_GRPC_ADDR"] = doc.Addresses["grpc"]
	err := run(context.Background(), envconfig.Map(second))
	var cfgErr *envconfig.Error
	if err == nil || errors.As(err, &cfgErr) {
		t.Errorf("run() on a busy address = %v, want a listen error", err)
	}
	if _, statErr := os.Stat(second["AUTHSESSION_READY_FILE"]); statErr == nil {
		t.Error("a ready file was written although the listener failed")
	}
	cancel()
	if err := <-exited; err != nil {
		t.Errorf("first run() = %v, want nil", err)
	}
}

// TestRunServesWhileRedisDoesNotAnswer: a Redis that takes connections and
// answers nothing (frozen) does not hold serving back; the start-up ping
// that finds it away runs beside start-up, and its 2 s bound is not waited
// for before the ready file (waiting on it took 1 s or more).
func TestRunServesWhileRedisDoesNotAnswer(t *testing.T) {
	t.Parallel()
	frozen, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer frozen.Close()
	go func() {
		for {
			c, err := frozen.Accept()
			if err != nil {
				return
			}
			go func() { // take what comes, answer nothing, until the client hangs up
				defer c.Close()
				io.Copy(io.Discard, c)
			}()
		}
	}()
	env, _ := testEnv(t)
	env["AUTHSESSION_REDIS_URL"] = "redis://" + frozen.Addr().String() + "/0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exited := make(chan error, 1)
	started := time.Now()
	go func() { exited <- run(ctx, envconfig.Map(env)) }()
	waitReady(t, env["AUTHSESSION_READY_FILE"], exited)
	if took := time.Since(started); took >= 500*time.Millisecond {
		t.Errorf("ready %v after start with a Redis that does not answer; want it without waiting on the ping (which took 1s or more before it ran beside start-up)", took)
	}
	cancel()
	if err := <-exited; err != nil {
		t.Errorf("run() = %v after cancellation, want nil", err)
	}
}
