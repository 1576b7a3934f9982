// Package gateway is the Edge Gateway's domain: the login and session
// operations both public transports (HTTP JSON and gRPC) expose, the types
// they exchange and the interfaces of the adapters they rely on (token
// verification, the Redis session store, the authsession client and the
// login rate limiter).
//
// The gateway checks only the shape of a request (required fields present and
// non-empty); the format of an email, a login code or a token is authsession's
// to judge.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"galaxy/platform/apierror"
	"galaxy/platform/readiness"
)

// TokenType is the token type of every access token the gateway hands out.
const TokenType = "Bearer"

// Challenge is a pending email login.
type Challenge struct {
	ID        string
	ExpiresAt time.Time
}

// Login is the outcome of a confirmed email login or a refresh: a session and
// its new tokens.
type Login struct {
	AccessToken           string
	AccessTokenExpiresAt  time.Time
	RefreshToken          string
	RefreshTokenExpiresAt time.Time
	SessionID             string
	UserID                string
}

// Claims are what a verified access token asserts.
type Claims struct {
	UserID    string // sub
	SessionID string // sid
}

// Session is a session record as authsession stored it (contracts/redis.md).
type Session struct {
	ID        string
	UserID    string
	Email     string
	Status    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SessionInfo describes one of a user's live sessions.
type SessionInfo struct {
	ID        string
	CreatedAt time.Time
	ExpiresAt time.Time
	// Current is true for the session of the access token making the call.
	Current bool
}

// StatusActive is the only session status that is not revoked.
const StatusActive = "active"

// LiveFor reports whether the session may serve a token issued to userID at
// now: it is active, belongs to userID and has not expired (contracts/redis.md).
func (s Session) LiveFor(userID string, now time.Time) bool {
	return s.Status == StatusActive && s.UserID != "" && s.UserID == userID && now.Before(s.ExpiresAt)
}

// TokenVerifier checks an access token's signature and claims.
type TokenVerifier interface {
	// Verify returns the token's claims, or an UNAUTHENTICATED error.
	Verify(token string) (Claims, error)
}

// SessionStore reads session records.
type SessionStore interface {
	// Session returns the record of session id; found is false when there is
	// none. A storage failure is a DEPENDENCY_UNAVAILABLE error.
	Session(ctx context.Context, id string) (s Session, found bool, err error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
}

// AuthSession is the Auth/Session Service. Its errors carry authsession's
// stable codes, or DEPENDENCY_UNAVAILABLE when it cannot be reached. A
// clientID is the caller's LimitKey.
type AuthSession interface {
	StartEmailLogin(ctx context.Context, email, clientID string) (Challenge, error)
	ConfirmEmailLogin(ctx context.Context, challengeID, code, clientID string) (Login, error)
	// RefreshSession rotates a refresh token into a new token pair.
	RefreshSession(ctx context.Context, refreshToken, clientID string) (Login, error)
	// RevokeSession revokes session sessionID of userID; a session of
	// another user is SESSION_NOT_FOUND, as an unknown one.
	RevokeSession(ctx context.Context, userID, sessionID string) error
	// ListSessions lists the live sessions of userID, newest first.
	ListSessions(ctx context.Context, userID string) ([]SessionInfo, error)
	// Check reports whether authsession is serving.
	Check(ctx context.Context) error
}

// Limiter rate-limits calls per key.
type Limiter interface {
	// Allow reports whether key may make one more call now and, when it may
	// not, how long until it may.
	Allow(key string) (ok bool, retryAfter time.Duration)
}

// Service implements the gateway's operations for every transport.
type Service struct {
	tokens       TokenVerifier
	sessions     SessionStore
	auth         AuthSession
	logins       Limiter // nil: login calls are not limited
	now          func() time.Time
	readyTimeout time.Duration
	ready        func(context.Context) error
}

// DefaultReadyTimeout bounds a readiness check unless WithReadyTimeout says
// otherwise: short enough for a probe with a one-second timeout to get its
// answer when a dependency hangs.
const DefaultReadyTimeout = 500 * time.Millisecond

// Option customises a Service.
type Option func(*Service)

// WithClock sets the clock used for session expiry (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLoginLimiter limits the login calls (StartEmailLogin, ConfirmEmailLogin
// and RefreshSession, whichever transport carries them) per client, keyed by
// LimitKey, with l. Without it they are not limited.
func WithLoginLimiter(l Limiter) Option { return func(s *Service) { s.logins = l } }

// WithReadyTimeout bounds each readiness check by d, whatever the
// dependencies' own call deadlines.
func WithReadyTimeout(d time.Duration) Option { return func(s *Service) { s.readyTimeout = d } }

// WithReadiness makes ready the readiness check Ready answers, instead of
// the Service's own over Dependencies: the binary's (platform/service),
// which checks the same dependencies and fails once the binary drains.
func WithReadiness(ready func(context.Context) error) Option {
	return func(s *Service) { s.ready = ready }
}

// Dependencies are the gateway's hard dependencies, in the order readiness
// names them: the session store (Redis) and authsession (whose own health
// covers its Redis).
func Dependencies(sessions SessionStore, auth AuthSession) []readiness.Dependency {
	return []readiness.Dependency{
		{Name: "redis", Check: sessions.Ping},
		{Name: "authsession", Check: auth.Check},
	}
}

// NewService returns a Service over its three adapters.
func NewService(tokens TokenVerifier, sessions SessionStore, auth AuthSession, opts ...Option) (*Service, error) {
	switch {
	case tokens == nil:
		return nil, errors.New("gateway: nil token verifier")
	case sessions == nil:
		return nil, errors.New("gateway: nil session store")
	case auth == nil:
		return nil, errors.New("gateway: nil authsession client")
	}
	s := &Service{tokens: tokens, sessions: sessions, auth: auth, now: time.Now, readyTimeout: DefaultReadyTimeout}
	for _, opt := range opts {
		opt(s)
	}
	if s.ready == nil {
		ready, err := readiness.New(s.readyTimeout, Dependencies(sessions, auth)...)
		if err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		s.ready = ready.Check
	}
	return s, nil
}

// StartEmailLogin asks authsession to send a login code to email.
// clientAddr is the caller's IP address. Its LimitKey identifies the caller
// for rate limiting, here and, as client_id, by authsession: the two limits
// count the same clients.
func (s *Service) StartEmailLogin(ctx context.Context, email, clientAddr string) (Challenge, error) {
	if err := required("email", email); err != nil {
		return Challenge{}, err
	}
	clientID, err := s.limitLogin(clientAddr)
	if err != nil {
		return Challenge{}, err
	}
	return s.auth.StartEmailLogin(ctx, email, clientID)
}

// ConfirmEmailLogin exchanges a challenge and its code for a session.
// clientAddr is as for StartEmailLogin.
func (s *Service) ConfirmEmailLogin(ctx context.Context, challengeID, code, clientAddr string) (Login, error) {
	if err := required("challenge_id", challengeID); err != nil {
		return Login{}, err
	}
	if err := required("code", code); err != nil {
		return Login{}, err
	}
	clientID, err := s.limitLogin(clientAddr)
	if err != nil {
		return Login{}, err
	}
	return s.auth.ConfirmEmailLogin(ctx, challengeID, code, clientID)
}

// RefreshSession exchanges a refresh token for a new token pair. No access
// token is needed: the refresh token is the credential. clientAddr is as for
// StartEmailLogin.
func (s *Service) RefreshSession(ctx context.Context, refreshToken, clientAddr string) (Login, error) {
	if err := required("refresh_token", refreshToken); err != nil {
		return Login{}, err
	}
	clientID, err := s.limitLogin(clientAddr)
	if err != nil {
		return Login{}, err
	}
	return s.auth.RefreshSession(ctx, refreshToken, clientID)
}

// Me returns the session an access token belongs to, once the token verifies
// and its session is live.
func (s *Service) Me(ctx context.Context, token string) (Session, error) {
	_, sess, err := s.authenticate(ctx, token)
	return sess, err
}

// Logout ends the session of an access token.
func (s *Service) Logout(ctx context.Context, token string) error {
	claims, _, err := s.authenticate(ctx, token)
	if err != nil {
		return err
	}
	err = s.auth.RevokeSession(ctx, claims.UserID, claims.SessionID)
	if apierror.Is(err, apierror.SessionNotFound) {
		// The session ended between the liveness check and the revocation:
		// the token is no longer good, as on any later call.
		return ErrInvalidToken
	}
	return err
}

// ListSessions lists the live sessions of the access token's user, newest
// first, marking the token's own.
func (s *Service) ListSessions(ctx context.Context, token string) ([]SessionInfo, error) {
	claims, _, err := s.authenticate(ctx, token)
	if err != nil {
		return nil, err
	}
	list, err := s.auth.ListSessions(ctx, claims.UserID)
	if err != nil {
		return nil, err
	}
	out := make([]SessionInfo, 0, len(list))
	for _, si := range list {
		si.Current = si.ID == claims.SessionID
		out = append(out, si)
	}
	return out, nil
}

// RevokeSession revokes one of the access token's user's sessions, possibly
// the token's own. Another user's session is SESSION_NOT_FOUND, as an unknown
// one (authsession decides).
func (s *Service) RevokeSession(ctx context.Context, token, sessionID string) error {
	claims, _, err := s.authenticate(ctx, token)
	if err != nil {
		return err
	}
	if err := required("session_id", sessionID); err != nil {
		return err
	}
	return s.auth.RevokeSession(ctx, claims.UserID, sessionID)
}

// authenticate verifies an access token and checks that its session is live.
func (s *Service) authenticate(ctx context.Context, token string) (Claims, Session, error) {
	claims, err := s.tokens.Verify(token)
	if err != nil {
		return Claims{}, Session{}, err
	}
	sess, found, err := s.sessions.Session(ctx, claims.SessionID)
	if err != nil {
		return Claims{}, Session{}, err
	}
	if !found || !sess.LiveFor(claims.UserID, s.now()) {
		return Claims{}, Session{}, ErrInvalidToken
	}
	return claims, sess, nil
}

// limitLogin takes a token from the bucket of the client's address and
// returns the client's id for authsession, the same LimitKey, so that a
// client gets no more from authsession's per-client limits by varying its
// address within its /64 than from the gateway's. Only well-formed login
// calls, those bound for authsession, are counted.
func (s *Service) limitLogin(clientAddr string) (clientID string, err error) {
	clientID = LimitKey(clientAddr)
	if s.logins == nil {
		return clientID, nil
	}
	if ok, retryAfter := s.logins.Allow(clientID); !ok {
		return "", apierror.Limited(retryAfter, "too many login requests from this address; retry later")
	}
	return clientID, nil
}

// LimitKey is the rate-limiting key of a client address, which is also the
// client_id authsession gets: an IPv4 address (an IPv4-mapped IPv6 one
// included) as is, an IPv6 address by its /64 network, the unit a single
// client usually holds. Anything else is its own key.
func LimitKey(clientAddr string) string {
	addr, err := netip.ParseAddr(clientAddr)
	if err != nil {
		return clientAddr
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	return netip.PrefixFrom(addr, 64).Masked().String()
}

// Ready reports whether the gateway can serve: its hard dependencies
// (Dependencies), the session store (Redis) and authsession (whose own
// health covers its Redis), both answer. Both are asked at once and the
// answer comes within the ready timeout even when one hangs: nil, or
// DEPENDENCY_UNAVAILABLE naming the first failed dependency (redis before
// authsession) as "dependency" and all failed ones as "dependencies". It
// returns ctx's error when the caller gives up first. The HTTP readiness
// probe asks it; in the binary it is the binary's readiness
// (WithReadiness), which gRPC health answers too, so they agree.
func (s *Service) Ready(ctx context.Context) error { return s.ready(ctx) }

// ErrInvalidToken is the one answer to any unacceptable access token, so that
// a caller learns nothing about why it was refused.
var ErrInvalidToken = apierror.New(apierror.Unauthenticated, "invalid access token")

// ErrMissingToken answers a call that carries no bearer token.
var ErrMissingToken = apierror.New(apierror.Unauthenticated, "missing bearer token")

// BearerToken extracts the token from the values of an Authorization header
// (or "authorization" gRPC metadata): exactly one value, "Bearer <token>",
// the scheme matched case-insensitively.
func BearerToken(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", ErrMissingToken
	case 1:
	default:
		return "", ErrInvalidToken
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		if values[0] == "" {
			return "", ErrMissingToken
		}
		return "", ErrInvalidToken
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", ErrInvalidToken
	}
	return token, nil
}

func required(field, value string) error {
	if value == "" {
		return apierror.New(apierror.InvalidArgument, "%s is required", field)
	}
	return nil
}
