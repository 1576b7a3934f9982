// Package grpcapi serves galaxy.authsession.v1.AuthSessionService over
// gRPC; the binary adds grpc.health.v1 (platform/service). Every error
// leaves as a status carrying google.rpc.ErrorInfo (domain
// "authsession.galaxy").
package grpcapi

import (
	"context"
	"errors"
	"log/slog"
	"math"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/authsession/internal/auth"
	"galaxy/platform/grpcserver"
)

// Domain is the ErrorInfo domain of every error.
const Domain = "authsession.galaxy"

// Service is the login and session service the API exposes.
type Service interface {
	StartEmailLogin(ctx context.Context, email, clientID string) (auth.StartResult, error)
	ConfirmEmailLogin(ctx context.Context, challengeID, code, clientID string) (auth.Grant, error)
	RefreshSession(ctx context.Context, refreshToken, clientID string) (auth.Grant, error)
	RevokeSession(ctx context.Context, userID, sessionID string) error
	RevokeAllSessions(ctx context.Context, userID string) (int, error)
	ListSessions(ctx context.Context, userID string) ([]auth.Session, error)
}

// NewServer returns a server exposing svc, with the logging, recovery and
// limits of every galaxy server (platform/grpcserver). The binary gives it
// grpc.health.v1 (platform/service).
func NewServer(svc Service, logger *slog.Logger) (*grpc.Server, error) {
	if svc == nil {
		return nil, errors.New("grpcapi: a service is required")
	}
	if logger == nil {
		return nil, errors.New("grpcapi: a logger is required")
	}
	gs, err := grpcserver.New(Domain, logger)
	if err != nil {
		return nil, err
	}
	authsessionv1.RegisterAuthSessionServiceServer(gs, &handler{svc: svc})
	return gs, nil
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
