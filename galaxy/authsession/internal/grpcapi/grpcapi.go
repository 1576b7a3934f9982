// Package grpcapi serves galaxy.authsession.v1.AuthSessionService and
// grpc.health.v1 over gRPC. Every error leaves as a status carrying
// google.rpc.ErrorInfo (domain "authsession.galaxy").
package grpcapi

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/authsession/internal/auth"
	"galaxy/platform/apierror"
	"galaxy/platform/lifecycle"
)

// Domain is the ErrorInfo domain of every error.
const Domain = "authsession.galaxy"

// MaxRecvMsgSize bounds a request message.
const MaxRecvMsgSize = 64 << 10

// Service is the login and session service the API exposes.
type Service interface {
	StartEmailLogin(ctx context.Context, email, clientID string) (auth.StartResult, error)
	ConfirmEmailLogin(ctx context.Context, challengeID, code, clientID string) (auth.Grant, error)
	RefreshSession(ctx context.Context, refreshToken, clientID string) (auth.Grant, error)
	RevokeSession(ctx context.Context, userID, sessionID string) error
	RevokeAllSessions(ctx context.Context, userID string) (int, error)
	ListSessions(ctx context.Context, userID string) ([]auth.Session, error)
}

// Server is the gRPC server of authsession.
type Server struct {
	grpc   *grpc.Server
	health *lifecycle.Health
}

// Option customises a Server.
type Option func(*options)

type options struct {
	ready func(context.Context) error
}

// WithReadiness makes grpc.health.v1 report SERVING only while ready
// passes, and NOT_SERVING while it fails (say, while Redis does not
// answer). ready must return within a short bound of its own. Without it
// the server reports SERVING until it shuts down.
func WithReadiness(ready func(context.Context) error) Option {
	return func(o *options) { o.ready = ready }
}

// NewServer returns a server exposing svc, logging one line per call to logger.
func NewServer(svc Service, logger *slog.Logger, opts ...Option) (*Server, error) {
	if svc == nil {
		return nil, errors.New("grpcapi: a service is required")
	}
	if logger == nil {
		return nil, errors.New("grpcapi: a logger is required")
	}
	gs := grpc.NewServer(
		grpc.ChainUnaryInterceptor(unaryInterceptor(logger)),
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: 15 * time.Minute,
			Time:              2 * time.Minute,
			Timeout:           20 * time.Second,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             10 * time.Second,
			PermitWithoutStream: true,
		}),
	)
	authsessionv1.RegisterAuthSessionServiceServer(gs, &handler{svc: svc})
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	hs := lifecycle.RegisterHealth(gs, o.ready, authsessionv1.AuthSessionService_ServiceDesc.ServiceName)
	return &Server{grpc: gs, health: hs}, nil
}

// Lifecycle returns the server as a lifecycle.Server on ln; its shutdown
// first reports NOT_SERVING to health checkers, then drains.
func (s *Server) Lifecycle(name string, ln net.Listener) lifecycle.Server {
	return s.health.Serve(name, ln, s.grpc)
}

// handler implements authsessionv1.AuthSessionServiceServer. It returns
// domain errors; the interceptor turns them into statuses.
type handler struct {
	authsessionv1.UnimplementedAuthSessionServiceServer
	svc Service
}

func (h *handler) StartEmailLogin(ctx context.Context, req *authsessionv1.StartEmailLoginRequest) (*authsessionv1.StartEmailLoginResponse, error) {
	res, err := h.svc.StartEmailLogin(ctx, req.GetEmail(), req.GetClientId())
	if err != nil {
		return nil, err
	}
	return &authsessionv1.StartEmailLoginResponse{
		ChallengeId: res.ChallengeID,
		ExpiresAt:   timestamppb.New(res.ExpiresAt),
	}, nil
}

func (h *handler) ConfirmEmailLogin(ctx context.Context, req *authsessionv1.ConfirmEmailLoginRequest) (*authsessionv1.ConfirmEmailLoginResponse, error) {
	res, err := h.svc.ConfirmEmailLogin(ctx, req.GetChallengeId(), req.GetCode(), req.GetClientId())
	if err != nil {
		return nil, err
	}
	return &authsessionv1.ConfirmEmailLoginResponse{Session: sessionMessage(res.Session), Tokens: tokenPair(res.Tokens)}, nil
}

func (h *handler) RefreshSession(ctx context.Context, req *authsessionv1.RefreshSessionRequest) (*authsessionv1.RefreshSessionResponse, error) {
	res, err := h.svc.RefreshSession(ctx, req.GetRefreshToken(), req.GetClientId())
	if err != nil {
		return nil, err
	}
	return &authsessionv1.RefreshSessionResponse{Session: sessionMessage(res.Session), Tokens: tokenPair(res.Tokens)}, nil
}

func (h *handler) RevokeSession(ctx context.Context, req *authsessionv1.RevokeSessionRequest) (*authsessionv1.RevokeSessionResponse, error) {
	if err := h.svc.RevokeSession(ctx, req.GetUserId(), req.GetSessionId()); err != nil {
		return nil, err
	}
	return &authsessionv1.RevokeSessionResponse{}, nil
}

func (h *handler) RevokeAllSessions(ctx context.Context, req *authsessionv1.RevokeAllSessionsRequest) (*authsessionv1.RevokeAllSessionsResponse, error) {
	n, err := h.svc.RevokeAllSessions(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &authsessionv1.RevokeAllSessionsResponse{RevokedCount: int32(min(n, math.MaxInt32))}, nil
}

func (h *handler) ListSessions(ctx context.Context, req *authsessionv1.ListSessionsRequest) (*authsessionv1.ListSessionsResponse, error) {
	sessions, err := h.svc.ListSessions(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	res := &authsessionv1.ListSessionsResponse{Sessions: make([]*authsessionv1.Session, len(sessions))}
	for i, s := range sessions {
		res.Sessions[i] = sessionMessage(s)
	}
	return res, nil
}

func sessionMessage(s auth.Session) *authsessionv1.Session {
	return &authsessionv1.Session{
		SessionId: s.ID,
		UserId:    s.UserID,
		Email:     s.Email,
		CreatedAt: timestamppb.New(s.CreatedAt),
		ExpiresAt: timestamppb.New(s.ExpiresAt),
	}
}

func tokenPair(t auth.Tokens) *authsessionv1.TokenPair {
	return &authsessionv1.TokenPair{
		AccessToken:           t.AccessToken,
		AccessTokenExpiresAt:  timestamppb.New(t.AccessTokenExpiresAt),
		RefreshToken:          t.RefreshToken,
		RefreshTokenExpiresAt: timestamppb.New(t.RefreshTokenExpiresAt),
	}
}

// unaryInterceptor recovers panics, turns errors into statuses with
// ErrorInfo and logs one line per call: method, code, reason and duration.
// It never logs messages, so no code or token reaches the log.
func unaryInterceptor(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (resp any, err error) {
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				logger.ErrorContext(ctx, "panic in grpc handler", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
				resp, err = nil, errors.New("panic")
			}
			st, e := classify(err)
			attrs := []any{
				"method", info.FullMethod,
				"code", st.Code().String(),
				"duration_ms", float64(time.Since(start).Microseconds()) / 1000,
			}
			level := slog.LevelInfo
			if e != nil {
				attrs = append(attrs, "reason", string(e.Code))
				switch e.Code {
				case apierror.Internal:
					level = slog.LevelError
					attrs = append(attrs, "error", e.Error())
				case apierror.DependencyUnavailable:
					level = slog.LevelWarn
					attrs = append(attrs, "error", e.Error())
				}
			}
			if err != nil {
				resp, err = nil, st.Err()
			}
			logger.Log(ctx, level, "grpc call", attrs...)
		}()
		return next(ctx, req)
	}
}

// classify renders err as a status. Domain errors get their code and
// ErrorInfo and are returned too; statuses made by gRPC itself pass
// through; the caller's own deadline or cancellation (work stopped because
// of it) is DEADLINE_EXCEEDED or CANCELLED; anything else is INTERNAL.
func classify(err error) (*status.Status, *apierror.Error) {
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
	return apierror.GRPCStatus(e, Domain), e
}
