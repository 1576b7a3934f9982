// Package grpcapi serves the gateway's public gRPC API
// (galaxy.gateway.v1.GatewayService); the binary adds grpc.health.v1
// (platform/service). Errors are statuses
// carrying a google.rpc.ErrorInfo with domain "gateway.galaxy" and the stable
// code as reason (contracts/errors.md).
package grpcapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/timestamppb"

	"galaxy/gateway/api/gatewayv1"
	"galaxy/gateway/internal/gateway"
	"galaxy/platform/grpcserver"
)

// Domain is the ErrorInfo domain of the gateway's errors.
const Domain = "gateway.galaxy"

// API implements gatewayv1.GatewayServiceServer over the domain service.
type API struct {
	gatewayv1.UnimplementedGatewayServiceServer
	svc *gateway.Service
}

// NewServer returns a gRPC server exposing svc, with the logging, recovery
// and limits of every galaxy server (platform/grpcserver). opts come after,
// and so override, these. The binary gives it grpc.health.v1
// (platform/service).
func NewServer(svc *gateway.Service, logger *slog.Logger, opts ...grpc.ServerOption) (*grpc.Server, error) {
	if svc == nil {
		return nil, errors.New("grpcapi: nil service")
	}
	if logger == nil {
		return nil, errors.New("grpcapi: nil logger")
	}
	srv, err := grpcserver.New(Domain, logger, opts...)
	if err != nil {
		return nil, err
	}
	gatewayv1.RegisterGatewayServiceServer(srv, &API{svc: svc})
	return srv, nil
}

// StartEmailLogin implements gatewayv1.GatewayServiceServer.
func (a *API) StartEmailLogin(ctx context.Context, req *gatewayv1.StartEmailLoginRequest) (*gatewayv1.StartEmailLoginResponse, error) {
	c, err := a.svc.StartEmailLogin(ctx, req.GetEmail(), clientAddr(ctx))
	if err != nil {
		return nil, err
	}
	return &gatewayv1.StartEmailLoginResponse{ChallengeId: c.ID, ExpiresAt: timestamp(c.ExpiresAt)}, nil
}

// ConfirmEmailLogin implements gatewayv1.GatewayServiceServer.
func (a *API) ConfirmEmailLogin(ctx context.Context, req *gatewayv1.ConfirmEmailLoginRequest) (*gatewayv1.ConfirmEmailLoginResponse, error) {
	l, err := a.svc.ConfirmEmailLogin(ctx, req.GetChallengeId(), req.GetCode(), clientAddr(ctx))
	if err != nil {
		return nil, err
	}
	return &gatewayv1.ConfirmEmailLoginResponse{
		AccessToken:           l.AccessToken,
		TokenType:             gateway.TokenType,
		AccessTokenExpiresAt:  timestamp(l.AccessTokenExpiresAt),
		RefreshToken:          l.RefreshToken,
		RefreshTokenExpiresAt: timestamp(l.RefreshTokenExpiresAt),
		SessionId:             l.SessionID,
		UserId:                l.UserID,
	}, nil
}

// RefreshSession implements gatewayv1.GatewayServiceServer.
func (a *API) RefreshSession(ctx context.Context, req *gatewayv1.RefreshSessionRequest) (*gatewayv1.RefreshSessionResponse, error) {
	l, err := a.svc.RefreshSession(ctx, req.GetRefreshToken(), clientAddr(ctx))
	if err != nil {
		return nil, err
	}
	return &gatewayv1.RefreshSessionResponse{
		AccessToken:           l.AccessToken,
		TokenType:             gateway.TokenType,
		AccessTokenExpiresAt:  timestamp(l.AccessTokenExpiresAt),
		RefreshToken:          l.RefreshToken,
		RefreshTokenExpiresAt: timestamp(l.RefreshTokenExpiresAt),
		SessionId:             l.SessionID,
		UserId:                l.UserID,
	}, nil
}

// GetMe implements gatewayv1.GatewayServiceServer.
func (a *API) GetMe(ctx context.Context, _ *gatewayv1.GetMeRequest) (*gatewayv1.GetMeResponse, error) {
	token, err := bearerToken(ctx)
	if err != nil {
		return nil, err
	}
	s, err := a.svc.Me(ctx, token)
	if err != nil {
		return nil, err
	}
	return &gatewayv1.GetMeResponse{
		UserId: s.UserID, Email: s.Email, SessionId: s.ID, SessionExpiresAt: timestamp(s.ExpiresAt),
	}, nil
}

// Logout implements gatewayv1.GatewayServiceServer.
func (a *API) Logout(ctx context.Context, _ *gatewayv1.LogoutRequest) (*gatewayv1.LogoutResponse, error) {
	token, err := bearerToken(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.svc.Logout(ctx, token); err != nil {
		return nil, err
	}
	return &gatewayv1.LogoutResponse{}, nil
}

// ListSessions implements gatewayv1.GatewayServiceServer.
func (a *API) ListSessions(ctx context.Context, _ *gatewayv1.ListSessionsRequest) (*gatewayv1.ListSessionsResponse, error) {
	token, err := bearerToken(ctx)
	if err != nil {
		return nil, err
	}
	list, err := a.svc.ListSessions(ctx, token)
	if err != nil {
		return nil, err
	}
	resp := &gatewayv1.ListSessionsResponse{Sessions: make([]*gatewayv1.SessionInfo, 0, len(list))}
	for _, s := range list {
		resp.Sessions = append(resp.Sessions, &gatewayv1.SessionInfo{
			SessionId: s.ID, CreatedAt: timestamp(s.CreatedAt), ExpiresAt: timestamp(s.ExpiresAt), Current: s.Current,
		})
	}
	return resp, nil
}

// RevokeSession implements gatewayv1.GatewayServiceServer.
func (a *API) RevokeSession(ctx context.Context, req *gatewayv1.RevokeSessionRequest) (*gatewayv1.RevokeSessionResponse, error) {
	token, err := bearerToken(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.svc.RevokeSession(ctx, token, req.GetSessionId()); err != nil {
		return nil, err
	}
	return &gatewayv1.RevokeSessionResponse{}, nil
}

// bearerToken is the access token of the call's "authorization" metadata.
func bearerToken(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	return gateway.BearerToken(md.Get("authorization"))
}

func timestamp(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// clientAddr is the caller's IP address, the host of its peer address, from
// which the domain derives its rate-limiting key and client_id.
func clientAddr(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	addr := p.Addr.String()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}
