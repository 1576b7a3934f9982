// Package authsessionclient calls the Auth/Session Service over gRPC. Every
// call has its own deadline and carries its request's W3C trace
// (platform/tracecontext); authsession's stable error codes come back
// unchanged (their free text never where a log line could show it) and a
// slow or unreachable authsession is DEPENDENCY_UNAVAILABLE (authsession).
package authsessionclient

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/gateway/internal/gateway"
	"galaxy/platform/apierror"
	"galaxy/platform/grpcclient"
)

// dependency names authsession in DEPENDENCY_UNAVAILABLE errors.
const dependency = "authsession"

// dependencyName is what a dependency named by authsession may look like
// ("mail", "redis", "user").
var dependencyName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// Client is a connection to authsession.
type Client struct {
	conn    *grpcclient.Conn
	api     authsessionv1.AuthSessionServiceClient
	health  healthpb.HealthClient
	timeout time.Duration
}

// New returns a Client for the authsession at addr ("host:port"), each call
// bounded by timeout. It does not connect: the connection is made, and
// remade, as calls need it (platform/grpcclient). A call that cannot be
// sent while a lost connection is being remade, as when authsession
// restarts on its address, waits for the new one within its deadline, for
// up to grpcclient.ReconnectWait after the loss; the health Check never
// waits, so readiness tells the state of the connection as it is.
func New(addr string, timeout time.Duration, opts ...grpc.DialOption) (*Client, error) {
	if addr == "" {
		return nil, errors.New("authsessionclient: empty address")
	}
	if timeout <= 0 {
		return nil, errors.New("authsessionclient: timeout must be positive")
	}
	conn, err := grpcclient.Dial(addr, timeout, opts...)
	if err != nil {
		return nil, fmt.Errorf("authsessionclient: %w", err)
	}
	return &Client{
		conn:    conn,
		api:     authsessionv1.NewAuthSessionServiceClient(conn),
		health:  healthpb.NewHealthClient(conn),
		timeout: timeout,
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// StartEmailLogin starts an email login for email on behalf of clientID.
func (c *Client) StartEmailLogin(ctx context.Context, email, clientID string) (gateway.Challenge, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.api.StartEmailLogin(ctx, &authsessionv1.StartEmailLoginRequest{Email: email, ClientId: clientID})
	if err != nil {
		return gateway.Challenge{}, failure(err)
	}
	if resp.GetChallengeId() == "" || !validTime(resp.GetExpiresAt()) {
		return gateway.Challenge{}, invalidResponse("StartEmailLogin")
	}
	return gateway.Challenge{ID: resp.GetChallengeId(), ExpiresAt: resp.GetExpiresAt().AsTime()}, nil
}

// ConfirmEmailLogin exchanges challengeID and code for a session.
func (c *Client) ConfirmEmailLogin(ctx context.Context, challengeID, code, clientID string) (gateway.Login, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.api.ConfirmEmailLogin(ctx, &authsessionv1.ConfirmEmailLoginRequest{
		ChallengeId: challengeID, Code: code, ClientId: clientID,
	})
	if err != nil {
		return gateway.Login{}, failure(err)
	}
	return login("ConfirmEmailLogin", resp.GetSession(), resp.GetTokens())
}

// RefreshSession rotates refreshToken into a new token pair on behalf of
// clientID.
func (c *Client) RefreshSession(ctx context.Context, refreshToken, clientID string) (gateway.Login, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.api.RefreshSession(ctx, &authsessionv1.RefreshSessionRequest{RefreshToken: refreshToken, ClientId: clientID})
	if err != nil {
		return gateway.Login{}, failure(err)
	}
	return login("RefreshSession", resp.GetSession(), resp.GetTokens())
}

// RevokeSession revokes session sessionID of userID.
func (c *Client) RevokeSession(ctx context.Context, userID, sessionID string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if _, err := c.api.RevokeSession(ctx, &authsessionv1.RevokeSessionRequest{UserId: userID, SessionId: sessionID}); err != nil {
		return failure(err)
	}
	return nil
}

// ListSessions lists the live sessions of userID, in authsession's order
// (newest first).
func (c *Client) ListSessions(ctx context.Context, userID string) ([]gateway.SessionInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.api.ListSessions(ctx, &authsessionv1.ListSessionsRequest{UserId: userID})
	if err != nil {
		return nil, failure(err)
	}
	out := make([]gateway.SessionInfo, 0, len(resp.GetSessions()))
	for _, s := range resp.GetSessions() {
		// Another user's session in the list would be a leak: refuse the answer.
		if s.GetSessionId() == "" || (s.GetUserId() != "" && s.GetUserId() != userID) ||
			!validTime(s.GetCreatedAt()) || !validTime(s.GetExpiresAt()) {
			return nil, invalidResponse("ListSessions")
		}
		out = append(out, gateway.SessionInfo{
			ID: s.GetSessionId(), CreatedAt: s.GetCreatedAt().AsTime(), ExpiresAt: s.GetExpiresAt().AsTime(),
		})
	}
	return out, nil
}

// login is the session and tokens of a ConfirmEmailLogin or RefreshSession
// answer, once every field the gateway hands out is there.
func login(method string, s *authsessionv1.Session, t *authsessionv1.TokenPair) (gateway.Login, error) {
	if s.GetSessionId() == "" || s.GetUserId() == "" || t.GetAccessToken() == "" || t.GetRefreshToken() == "" ||
		!validTime(t.GetAccessTokenExpiresAt()) || !validTime(t.GetRefreshTokenExpiresAt()) {
		return gateway.Login{}, invalidResponse(method)
	}
	return gateway.Login{
		AccessToken:           t.GetAccessToken(),
		AccessTokenExpiresAt:  t.GetAccessTokenExpiresAt().AsTime(),
		RefreshToken:          t.GetRefreshToken(),
		RefreshTokenExpiresAt: t.GetRefreshTokenExpiresAt().AsTime(),
		SessionID:             s.GetSessionId(),
		UserID:                s.GetUserId(),
	}, nil
}

// Check asks authsession's grpc.health.v1 service whether the server is
// serving.
func (c *Client) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return apierror.Dependency(dependency, err)
	}
	if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		return apierror.Dependency(dependency, fmt.Errorf("health status %s", st))
	}
	return nil
}

// failure is the gateway's error for a failed authsession call: authsession's
// stable code, metadata and retry delay, but none of its text where a log
// line could show it, since a status message may echo the call's code or
// token. The errors the gateway logs, INTERNAL and DEPENDENCY_UNAVAILABLE,
// get the gateway's own message and, as their cause, only the gRPC code; the
// others, answered to the caller and never logged, keep authsession's
// message and no cause.
func failure(err error) *apierror.Error {
	st, ok := status.FromError(err)
	if !ok { // not from the wire
		return apierror.FromGRPC(err, dependency)
	}
	e := apierror.FromGRPC(err, dependency)
	cause := fmt.Errorf("gRPC code %s", st.Code())
	switch e.Code {
	case apierror.Internal:
		return apierror.As(cause)
	case apierror.DependencyUnavailable:
		name := e.Metadata["dependency"]
		if !dependencyName.MatchString(name) { // it makes the logged message
			name = dependency
		}
		out := apierror.Dependency(name, cause)
		out.RetryAfter = e.RetryAfter
		return out
	}
	return &apierror.Error{Code: e.Code, Message: e.Message, Metadata: e.Metadata, RetryAfter: e.RetryAfter}
}

func validTime(ts *timestamppb.Timestamp) bool { return ts != nil && ts.IsValid() }

// invalidResponse reports an answer that breaks the authsession contract: the
// dependency failed, though it did answer.
func invalidResponse(method string) error {
	return apierror.Dependency(dependency, fmt.Errorf("%s: incomplete response", method))
}
