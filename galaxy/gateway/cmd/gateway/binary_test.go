package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/gateway/api/gatewayv1"
	"galaxy/gateway/internal/gatewaytest"
	"galaxy/platform/binarytest"
	"galaxy/platform/testwait"
)

// TestBinary runs the built gateway as the harness does: what only a real
// process shows. It writes the ready file with its own pid once serving,
// every line on stderr is JSON of the gateway (the Redis and gRPC
// libraries' own complaints included) and holds no token, and SIGTERM
// makes main return with exit code 0.
func TestBinary(t *testing.T) {
	t.Parallel()
	key := gatewaytest.NewKey(t, "key-1")
	mr := gatewaytest.Redis(t)
	gatewaytest.PutSession(t, mr, gatewaytest.ActiveSession("sess-1", "user-1"))
	p := binarytest.Start(t, "GATEWAY_READY_FILE", map[string]string{
		"GATEWAY_HTTP_ADDR":        "127.0.0.1:0",
		"GATEWAY_GRPC_ADDR":        "127.0.0.1:0",
		"GATEWAY_AUTHSESSION_ADDR": gatewaytest.DeadAddr(t),
		"GATEWAY_REDIS_URL":        "redis://" + mr.Addr() + "/0",
		"GATEWAY_JWKS_FILE":        gatewaytest.WriteFile(t, "jwks.json", gatewaytest.JWKS(t, key)),
		"GATEWAY_SHUTDOWN_TIMEOUT": "5s",
	})
	if p.Doc.Service != "gateway" || p.Doc.PID != p.Cmd.Process.Pid || p.Doc.Addresses["http"] == "" || p.Doc.Addresses["grpc"] == "" {
		t.Fatalf("ready file = %+v, want gateway, pid %d, http and grpc addresses", p.Doc, p.Cmd.Process.Pid)
	}
	base := "http://" + p.Doc.Addresses["http"]
	token := key.Sign(t, gatewaytest.AccessClaims("user-1", "sess-1", time.Now()))
	if status, body := get(t, base+"/v1/me", http.Header{"Authorization": {"Bearer " + token}}); status != http.StatusOK {
		t.Errorf("GET /v1/me = %d %s, want 200", status, body)
	}
	mr.Close() // Redis gone too: its client complains
	if status, body := get(t, base+"/readyz", nil); status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz = %d %s, want 503", status, body)
	}

	if code := p.Terminate(t, 10*time.Second); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0; stderr:\n%s", code, p.Stderr)
	}
	logs := p.Stderr.String()
	if strings.Contains(logs, token) {
		t.Error("logs hold the access token")
	}
	for _, component := range []string{`"component":"redis"`, `"component":"grpc"`} {
		if !strings.Contains(logs, component) {
			t.Errorf("logs lack a %s line:\n%s", component, logs)
		}
	}
	if last := p.LastLine(t, "gateway"); last["msg"] != "stopped" || last["level"] != "INFO" {
		t.Errorf("last log line = %v, want INFO stopped", last)
	}
}

// TestBinaryDrain sends SIGTERM to the built gateway while an HTTP call is
// in flight (authsession holds its answer): at once gRPC health turns
// NOT_SERVING for "" and the gateway service and new gRPC calls are
// refused, while the HTTP call is still being served. A drain that ends
// within GATEWAY_SHUTDOWN_TIMEOUT answers the call and exits 0; one that
// runs past it cuts the call and exits 1 with a "stopped" line naming the
// timeout.
func TestBinaryDrain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		timeout  string        // GATEWAY_SHUTDOWN_TIMEOUT
		release  bool          // authsession answers once the drain was seen
		wantCode int           // the exit code
		wantCall int           // the HTTP call's status; 0: cut, no answer
		wantLog  string        // in the last line, "stopped"
		within   time.Duration // of SIGTERM, the exit
	}{
		{"completes", "10s", true, 0, http.StatusOK, `"level":"INFO"`, 10 * time.Second},
		{"cut at the timeout", "1s", false, 1, 0, "GATEWAY_SHUTDOWN_TIMEOUT=1s", 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := gatewaytest.NewKey(t, "key-1")
			auth := gatewaytest.NewAuthSession()
			entered, release := make(chan struct{}, 1), make(chan struct{})
			auth.OnStart(func(ctx context.Context, _ *authsessionv1.StartEmailLoginRequest) (*authsessionv1.StartEmailLoginResponse, error) {
				entered <- struct{}{}
				select {
				case <-release:
					return &authsessionv1.StartEmailLoginResponse{ChallengeId: "ch-1", ExpiresAt: timestamppb.New(gatewaytest.ChallengeExpiry)}, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			})
			defer func() {
				select {
				case <-release:
				default:
					close(release)
				}
			}()
			p := binarytest.Start(t, "GATEWAY_READY_FILE", map[string]string{
				"GATEWAY_HTTP_ADDR":           "127.0.0.1:0",
				"GATEWAY_GRPC_ADDR":           "127.0.0.1:0",
				"GATEWAY_AUTHSESSION_ADDR":    auth.Serve(t),
				"GATEWAY_AUTHSESSION_TIMEOUT": "30s",
				"GATEWAY_REDIS_URL":           "redis://" + gatewaytest.Redis(t).Addr() + "/0",
				"GATEWAY_JWKS_FILE":           gatewaytest.WriteFile(t, "jwks.json", gatewaytest.JWKS(t, key)),
				"GATEWAY_SHUTDOWN_TIMEOUT":    tt.timeout,
			})
			health := healthClient(t, p.Doc.Addresses["grpc"])
			watchCtx, endWatch := context.WithCancel(t.Context())
			defer endWatch()
			watch, err := health.Watch(watchCtx, &healthpb.HealthCheckRequest{Service: gatewayv1.GatewayService_ServiceDesc.ServiceName})
			if err != nil {
				t.Fatalf("Watch: %v", err)
			}
			statuses := make(chan healthpb.HealthCheckResponse_ServingStatus, 8)
			go func() {
				for {
					resp, err := watch.Recv()
					if err != nil {
						return
					}
					statuses <- resp.GetStatus()
				}
			}()
			// The first status may be the one before the first check.
			for deadline := time.Now().Add(10 * time.Second); ; {
				if testwait.Receive(t, statuses, 10*time.Second, "health before SIGTERM") == healthpb.HealthCheckResponse_SERVING {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("health before SIGTERM: not SERVING within 10s")
				}
			}

			call := make(chan int, 1)
			go func() {
				resp, err := (&http.Client{Timeout: 30 * time.Second}).Post("http://"+p.Doc.Addresses["http"]+"/v1/auth/email/start",
					"application/json", strings.NewReader(`{"email": "drain@example.com"}`))
				if err != nil {
					call <- 0
					return
				}
				resp.Body.Close()
				call <- resp.StatusCode
			}()
			testwait.Receive(t, entered, 10*time.Second, "the HTTP call reaching authsession")
			if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatalf("SIGTERM: %v", err)
			}

			if got := testwait.Receive(t, statuses, 5*time.Second, "health after SIGTERM, with an HTTP call in flight"); got != healthpb.HealthCheckResponse_NOT_SERVING {
				t.Errorf("health after SIGTERM = %s, want NOT_SERVING", got)
			}
			endWatch() // a stream in flight too: the drain waits for it
			refused := func() error {
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				defer cancel()
				cc, err := grpc.NewClient(p.Doc.Addresses["grpc"], grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					return err
				}
				defer cc.Close()
				_, err = gatewayv1.NewGatewayServiceClient(cc).StartEmailLogin(ctx, &gatewayv1.StartEmailLoginRequest{Email: "late@example.com"})
				if code := status.Code(err); code != codes.Unavailable {
					return status.Errorf(code, "a new gRPC call was answered %s", code)
				}
				return nil
			}
			if err := testwait.Until(5*time.Second, refused); err != nil {
				t.Errorf("after SIGTERM with an HTTP call in flight: %v, want UNAVAILABLE", err)
			}
			select {
			case got := <-call:
				t.Fatalf("the HTTP call in flight ended (%d) before the drain was seen", got)
			default:
			}

			if tt.release {
				close(release)
			}
			if got := testwait.Receive(t, call, 30*time.Second, "the HTTP call in flight"); got != tt.wantCall {
				t.Errorf("the HTTP call in flight = %d, want %d (0: cut)", got, tt.wantCall)
			}
			if code := p.Wait(t, tt.within); code != tt.wantCode {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tt.wantCode, p.Stderr)
			}
			if last := p.LastLine(t, "gateway"); last["msg"] != "stopped" || !strings.Contains(lineOf(last), tt.wantLog) {
				t.Errorf("last log line = %v, want stopped with %s", last, tt.wantLog)
			}
		})
	}
}

func lineOf(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}
