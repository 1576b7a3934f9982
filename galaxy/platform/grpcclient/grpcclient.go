// Package grpcclient dials another galaxy service over gRPC the same way
// from every binary: plaintext on the internal network, a reconnect
// backoff short enough for a service next door, and each call carrying
// its request's W3C trace (platform/tracecontext).
package grpcclient

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"galaxy/platform/tracecontext"
)

// Reconnect is the backoff between connection attempts: gRPC's default
// grows to two minutes, far too long for a service next door, so a
// restarted one is used again within about a second.
var Reconnect = backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}

// New returns a connection to the service at addr ("host:port"). It does
// not connect: the connection is made, and remade, as calls need it, each
// attempt given at least connectTimeout. opts come after these defaults.
func New(addr string, connectTimeout time.Duration, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	if addr == "" {
		return nil, errors.New("grpcclient: empty address")
	}
	if connectTimeout <= 0 {
		return nil, errors.New("grpcclient: connect timeout must be positive")
	}
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: Reconnect, MinConnectTimeout: connectTimeout}),
		grpc.WithChainUnaryInterceptor(tracecontext.UnaryClientInterceptor),
	}, opts...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("grpcclient: %w", err)
	}
	return conn, nil
}
