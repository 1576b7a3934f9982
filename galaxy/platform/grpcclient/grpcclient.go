// Package grpcclient dials the gRPC connection a galaxy service keeps to
// another, written once: plaintext, the W3C trace of each call passed on
// (platform/tracecontext), a reconnect backoff fit for a service next door
// and, while a lost connection is being remade, calls that wait for the new
// one instead of failing at once (ReconnectWait).
package grpcclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"galaxy/platform/tracecontext"
)

// Backoff is the reconnect backoff: 100 ms growing by 1.6 (± 20 %) to at
// most 1 s. gRPC's default grows to two minutes, far too long for a
// service next door.
var Backoff = backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}

// Conn is a client connection to a galaxy service.
type Conn struct {
	*grpc.ClientConn
	stop context.CancelFunc // ends the link's following of the connection
}

// Dial returns a connection to the service at addr ("host:port"), each
// connection attempt bounded by connectTimeout. It does not connect: the
// connection is made, and remade, as calls need it. A unary call that
// cannot be sent while a lost connection is being remade waits for the new
// one within its deadline, for up to ReconnectWait after the loss, and is
// never sent twice; a grpc.health.v1 Check never waits, so a readiness
// check tells the state of the connection as it is. opts come after, and
// so override, these.
func Dial(addr string, connectTimeout time.Duration, opts ...grpc.DialOption) (*Conn, error) {
	if addr == "" {
		return nil, errors.New("grpcclient: empty address")
	}
	if connectTimeout <= 0 {
		return nil, errors.New("grpcclient: the connect timeout must be positive")
	}
	l := &link{wait: ReconnectWait}
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: Backoff, MinConnectTimeout: connectTimeout}),
		grpc.WithChainUnaryInterceptor(tracecontext.UnaryClientInterceptor, l.unary),
		grpc.WithStatsHandler(attempts{}),
	}, opts...)
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("grpcclient: %w", err)
	}
	l.conn = cc
	ctx, stop := context.WithCancel(context.Background())
	go l.follow(ctx)
	return &Conn{ClientConn: cc, stop: stop}, nil
}

// Close closes the connection.
func (c *Conn) Close() error {
	c.stop()
	return c.ClientConn.Close()
}
