package grpcserver_test

import (
	"io"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"galaxy/platform/apierror"
	"galaxy/platform/grpcserver/grpcservertest"
)

func TestMalformedUnaryRequest(t *testing.T) {
	t.Parallel()
	var served atomic.Int32
	conn, logs := serveEcho(t, func(*healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
		served.Add(1)
		return &healthpb.HealthCheckResponse{}, nil
	})
	for _, tt := range grpcservertest.Malformed {
		t.Run(tt.Name, func(t *testing.T) {
			grpcservertest.WantInvalidArgument(t, grpcservertest.Invoke(t.Context(), conn, echoMethod, tt.Wire), domain)
		})
	}
	if n := served.Load(); n != 0 {
		t.Errorf("the handler served %d malformed requests, want none", n)
	}
	var logged int
	for _, rec := range records(t, logs) {
		if rec["msg"] == "grpc call" && rec["error_code"] == string(apierror.InvalidArgument) && rec["code"] == "InvalidArgument" {
			logged++
		}
	}
	if logged != len(grpcservertest.Malformed) {
		t.Errorf("logged %d INVALID_ARGUMENT calls, want %d", logged, len(grpcservertest.Malformed))
	}

	// A well-formed request, with an unknown field as a newer client may
	// send, is still served.
	if err := grpcservertest.Invoke(t.Context(), conn, echoMethod, []byte{0x0a, 0x01, 'a', 0x50, 0x01}); err != nil {
		t.Errorf("well-formed request: %v", err)
	}
	if n := served.Load(); n != 1 {
		t.Errorf("handler calls = %d, want 1", n)
	}
}

// TestMalformedStreamRequest sends a malformed request to a
// server-streaming method (grpc.health.v1 Watch).
func TestMalformedStreamRequest(t *testing.T) {
	t.Parallel()
	conn, _ := serve(t, func(srv *grpc.Server) { healthpb.RegisterHealthServer(srv, health.NewServer()) })

	for _, tt := range grpcservertest.Malformed {
		t.Run(tt.Name, func(t *testing.T) {
			desc := &grpc.StreamDesc{StreamName: "Watch", ServerStreams: true}
			s, err := conn.NewStream(t.Context(), desc, healthpb.Health_Watch_FullMethodName, grpc.ForceCodecV2(grpcservertest.RawCodec{}))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SendMsg(tt.Wire); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if err := s.CloseSend(); err != nil {
				t.Fatal(err)
			}
			var out []byte
			grpcservertest.WantInvalidArgument(t, s.RecvMsg(&out), domain)
		})
	}
}
