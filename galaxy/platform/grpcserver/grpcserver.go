// Package grpcserver builds the gRPC server every galaxy service exposes:
// the limits of a public server and the interceptors that continue each
// call's W3C trace (platform/tracecontext), log each call, recover panics
// and turn every error into a status carrying google.rpc.ErrorInfo from the
// one table (platform/apierror).
package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"galaxy/platform/apierror"
	"galaxy/platform/tracecontext"
)

// Limits of a public server.
const (
	// MaxRecvMsgSize bounds every request message.
	MaxRecvMsgSize = 64 << 10
	// MaxHeaderListSize bounds the metadata of a call, as an HTTP server
	// bounds a request's headers.
	MaxHeaderListSize = 16 << 10
	// MaxConcurrentStreams bounds the calls in flight on one connection.
	MaxConcurrentStreams = 100
)

// Connection limits: how long a new connection may take to handshake, how a
// client may ping and when idle or dead connections are closed.
const (
	connectionTimeout = 10 * time.Second
	minPingInterval   = 10 * time.Second // a client pinging more often is cut off
	maxConnIdle       = 15 * time.Minute
	pingAfter         = 2 * time.Minute
	pingTimeout       = 20 * time.Second
)

// New returns a gRPC server whose errors carry ErrorInfo with domain, that
// gives each call and stream the span of its hop in the caller's trace (or
// in a new one: platform/tracecontext), logs one line per call to logger,
// with the trace when logger comes from platform/logging, and recovers
// panicking handlers, with
// the limits of a public server: 64 KiB messages, 16 KiB of metadata, 100
// calls at once per connection, a handshake deadline, keepalive enforcement
// and the closing of idle connections. A request that is no valid protobuf
// message answers INVALID_ARGUMENT and never reaches its handler. opts come
// after, and so override, these.
func New(domain string, logger *slog.Logger, opts ...grpc.ServerOption) (*grpc.Server, error) {
	if domain == "" {
		return nil, errors.New("grpcserver: an error domain is required")
	}
	if logger == nil {
		return nil, errors.New("grpcserver: a logger is required")
	}
	c := newCodec()
	base := []grpc.ServerOption{
		grpc.ForceServerCodecV2(c),
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		grpc.MaxHeaderListSize(MaxHeaderListSize),
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
		grpc.ConnectionTimeout(connectionTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: minPingInterval, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: maxConnIdle, Time: pingAfter, Timeout: pingTimeout}),
		grpc.ChainUnaryInterceptor(tracecontext.UnaryServerInterceptor, logCalls(domain, logger), c.refuseMalformed, recoverPanics(logger)),
		grpc.ChainStreamInterceptor(tracecontext.StreamServerInterceptor, c.refuseMalformedStream(domain)),
	}
	return grpc.NewServer(append(base, opts...)...), nil
}

// logCalls logs one line per call: method, code, error_code (the stable
// code of a domain error) and duration_ms, and turns every error into its
// status (Status). Failures that are not the caller's fault are logged with
// their cause, which never reaches the caller; messages are never logged,
// so no code or token reaches the log.
func logCalls(domain string, logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := next(ctx, req)
		st, e := Status(err, domain)
		attrs := []slog.Attr{slog.String("method", info.FullMethod), slog.String("code", st.Code().String())}
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			attrs = append(attrs, slog.String("peer", p.Addr.String()))
		}
		level := slog.LevelInfo
		if e != nil {
			attrs = append(attrs, slog.String("error_code", string(e.Code)))
			switch e.Code {
			case apierror.Internal:
				level = slog.LevelError
				attrs = append(attrs, slog.String("error", e.Error()))
			case apierror.DependencyUnavailable:
				level = slog.LevelWarn
				attrs = append(attrs, slog.String("error", e.Error()))
			}
		}
		attrs = append(attrs, slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
		logger.LogAttrs(ctx, level, "grpc call", attrs...)
		if err != nil {
			return nil, st.Err()
		}
		return resp, nil
	}
}

// recoverPanics turns a panicking handler into an INTERNAL error and logs
// the panic with its stack.
func recoverPanics(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if v := recover(); v != nil {
				logger.LogAttrs(ctx, slog.LevelError, "panic serving call",
					slog.String("method", info.FullMethod),
					slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
				resp, err = nil, apierror.New(apierror.Internal, "internal error")
			}
		}()
		return next(ctx, req)
	}
}

// Status renders err as the status a caller gets. A domain error gets its
// code and ErrorInfo with domain and is returned too; a status made by gRPC
// itself (say, by the health service) passes through; the caller's own
// deadline or cancellation (work stopped because of it) is
// DEADLINE_EXCEEDED or CANCELLED; anything else is INTERNAL, its cause kept
// in the returned error only. A nil err is OK.
func Status(err error, domain string) (*status.Status, *apierror.Error) {
	if err == nil {
		return status.New(codes.OK, ""), nil
	}
	var e *apierror.Error
	if !errors.As(err, &e) {
		if st, ok := status.FromError(err); ok {
			return st, nil
		}
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return status.New(codes.DeadlineExceeded, "the call's deadline passed before the work could be done"), nil
		case errors.Is(err, context.Canceled):
			return status.New(codes.Canceled, "the call was cancelled"), nil
		}
		e = apierror.As(err)
	}
	return apierror.GRPCStatus(e, domain), e
}
