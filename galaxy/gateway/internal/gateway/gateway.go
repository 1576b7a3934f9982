// Package gateway is the Edge Gateway's domain: the login and session
// operations both public transports (HTTP JSON and gRPC) expose, the types
// they exchange and the interfaces of the adapters they rely on (token
// verification, the Redis session store and the authsession client).
//
// The gateway checks only the shape of a request (required fields present and
// non-empty); the format of an email or a login code is authsession's to judge.
package gateway

import (
	"context"
	"errors"
	"strings"
	"time"

	"galaxy/platform/apierror"
)

// TokenType is the token type of every access token the gateway hands out.
const TokenType = "Bearer"

// Challenge is a pending email login.
type Challenge struct {
	ID        string
	ExpiresAt time.Time
}

// Login is the outcome of a confirmed email login: a new session and its tokens.
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
// stable codes, or DEPENDENCY_UNAVAILABLE when it cannot be reached.
type AuthSession interface {
	StartEmailLogin(ctx context.Context, email, clientID string) (Challenge, error)
	ConfirmEmailLogin(ctx context.Context, challengeID, code, clientID string) (Login, error)
	// Check reports whether authsession is serving.
	Check(ctx context.Context) error
}

// Service implements the gateway's operations for every transport.
type Service struct {
	tokens   TokenVerifier
	sessions SessionStore
	auth     AuthSession
	now      func() time.Time
}

// Option customises a Service.
type Option func(*Service)

// WithClock sets the clock used for session expiry (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

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
	s := &Service{tokens: tokens, sessions: sessions, auth: auth, now: time.Now}
	for _, opt := range opts {
		opt(s)
	}
	return s, nil
}

// StartEmailLogin asks authsession to send a login code to email.
// clientID identifies the caller (its IP address) for rate limiting.
func (s *Service) StartEmailLogin(ctx context.Context, email, clientID string) (Challenge, error) {
	if err := required("email", email); err != nil {
		return Challenge{}, err
	}
	return s.auth.StartEmailLogin(ctx, email, clientID)
}

// ConfirmEmailLogin exchanges a challenge and its code for a session.
func (s *Service) ConfirmEmailLogin(ctx context.Context, challengeID, code, clientID string) (Login, error) {
	if err := required("challenge_id", challengeID); err != nil {
		return Login{}, err
	}
	if err := required("code", code); err != nil {
		return Login{}, err
	}
	return s.auth.ConfirmEmailLogin(ctx, challengeID, code, clientID)
}

// Me returns the session an access token belongs to, once the token verifies
// and its session is live.
func (s *Service) Me(ctx context.Context, token string) (Session, error) {
	claims, err := s.tokens.Verify(token)
	if err != nil {
		return Session{}, err
	}
	sess, found, err := s.sessions.Session(ctx, claims.SessionID)
	if err != nil {
		return Session{}, err
	}
	if !found || !sess.LiveFor(claims.UserID, s.now()) {
		return Session{}, ErrInvalidToken
	}
	return sess, nil
}

// Ready reports whether every dependency answers: the session store first,
// then authsession. Both are asked at once.
func (s *Service) Ready(ctx context.Context) error {
	storeErr := make(chan error, 1)
	go func() { storeErr <- s.sessions.Ping(ctx) }()
	authErr := s.auth.Check(ctx)
	return errors.Join(<-storeErr, authErr)
}

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
