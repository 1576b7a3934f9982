// Package auth is the authsession domain: email one-time-code login that ends
// in a session and a token pair, refresh-token rotation, session revocation
// and the abuse limits of login. It talks to Redis, the mail service, the
// user service and the token signer only through the interfaces below.
package auth

import (
	"context"
	"errors"
	"time"

	"galaxy/platform/apierror"
)

// Challenge is a pending email login. The code itself is never kept; only its
// keyed hash is. The store forgets a challenge when it expires: that is the
// one place the code lifetime is enforced.
//
// A challenge exchanged for a session may be kept for the retry grace window
// as a tombstone: SessionID names the session it opened and ConsumedAt says
// when. Its code hash stays, so a retry with the right code is recognised,
// and so do its Attempts, which go on counting: no more codes are ever
// compared against a challenge and its tombstone together than allowed.
type Challenge struct {
	ID         string
	Email      string
	CodeHash   string // hex HMAC-SHA-256, see Service.codeHash
	Attempts   int    // codes compared or being compared (Store.ReserveAttempt)
	ClientID   string
	CreatedAt  time.Time // whole seconds
	SessionID  string    // set on a tombstone only
	ConsumedAt time.Time // set on a tombstone only (ms precision)
}

// Session is an open login session (the public record of contracts/redis.md).
type Session struct {
	ID        string
	UserID    string
	Email     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// NewSession is what the store writes when a challenge is exchanged.
type NewSession struct {
	Session
	RefreshTokenHash string // hex SHA-256 of the refresh token
	// RevokeAllMark is the store's revoke-all mark (Store.RevokeAllMark)
	// read before the user was resolved. The session is refused when a
	// RevokeAllSessions of its user was marked after it: the user's state
	// that the login saw may be older than that revocation.
	RevokeAllMark int64
	// ConsumedAt is when the challenge was exchanged. When RetryUntil is
	// after it, the challenge is kept as a tombstone until RetryUntil
	// instead of being deleted.
	ConsumedAt time.Time
	RetryUntil time.Time
}

// RefreshToken is what the store knows about a presented refresh token.
type RefreshToken struct {
	SessionID string
	// Used reports a token that was already rotated: presenting it again is
	// a replay, unless it is a retry (contracts/tokens.md, "Retries").
	Used bool
	// UsedAt and SuccessorHash (hex SHA-256 of the token that replaced it)
	// are known for a used token rotated by this version; zero otherwise.
	UsedAt        time.Time
	SuccessorHash string
}

// Rotation replaces the current refresh token of a session by a new one.
type Rotation struct {
	SessionID string
	OldHash   string    // hex SHA-256 of the presented refresh token
	NewHash   string    // hex SHA-256 of its successor
	UsedAt    time.Time // when the presented token became used (ms precision)
}

// RevocationReason says why a session was revoked; it is published with the
// revocation signal (contracts/redis.md).
type RevocationReason string

// The revocation reasons.
const (
	// ReasonLogout: the owner revoked the session (RevokeSession).
	ReasonLogout RevocationReason = "logout"
	// ReasonRevoked: authsession revoked it because its user no longer exists.
	ReasonRevoked RevocationReason = "revoked"
	// ReasonRevokeAll: every session of the user was revoked (RevokeAllSessions).
	ReasonRevokeAll RevocationReason = "revoke_all"
	// ReasonReplay: an already-used refresh token of the session was presented.
	ReasonReplay RevocationReason = "replay"
	// ReasonUserDisabled: the user service reports the user as disabled.
	ReasonUserDisabled RevocationReason = "user_disabled"
)

// Tokens is the token pair handed to the client.
type Tokens struct {
	AccessToken           string
	AccessTokenExpiresAt  time.Time
	RefreshToken          string
	RefreshTokenExpiresAt time.Time
}

// User is a user as the user service reports it.
type User struct {
	ID     string
	Email  string
	Status UserStatus
}

// UserStatus is a user's account state.
type UserStatus string

// The user states of contracts/user.md.
const (
	UserActive   UserStatus = "active"
	UserDisabled UserStatus = "disabled"
)

// LoginCodeMessage asks the mail service to deliver a login code.
type LoginCodeMessage struct {
	To             string
	Code           string
	ExpiresAt      time.Time
	IdempotencyKey string
}

// Store keeps challenges and sessions. Errors carry apierror codes:
// CHALLENGE_NOT_FOUND for a missing challenge, SESSION_NOT_FOUND for a
// session that is not live, INVALID_REFRESH_TOKEN for an unknown refresh
// token, DEPENDENCY_UNAVAILABLE when the store itself fails; the one
// exception is ErrRefreshTokenReused.
type Store interface {
	// CreateChallenge stores c until expiresAt.
	CreateChallenge(ctx context.Context, c Challenge, expiresAt time.Time) error
	// Challenge returns the live challenge id, or its tombstone.
	Challenge(ctx context.Context, id string) (Challenge, error)
	// DeleteChallenge forgets challenge id; a missing one is not an error.
	DeleteChallenge(ctx context.Context, id string) error
	// ReserveAttempt atomically counts one attempt against challenge id,
	// before its code is compared, and returns the challenge with the count,
	// this attempt included. When maxAttempts are already counted the
	// challenge is as good as burned: it fails with CHALLENGE_NOT_FOUND and
	// counts nothing, so of any number of concurrent calls at most
	// maxAttempts get a challenge to compare a code with. The codes of the
	// counted attempts decide the challenge's end: a right one consumes it,
	// the last wrong one burns it.
	ReserveAttempt(ctx context.Context, id string, maxAttempts int) (Challenge, error)
	// ReleaseAttempt takes back an attempt of challenge id whose code
	// matched but that used nothing up (the user service failed); a missing
	// challenge is not an error.
	ReleaseAttempt(ctx context.Context, id string) error
	// ConsumeChallenge atomically deletes challenge id; it fails with
	// CHALLENGE_NOT_FOUND when the challenge is already gone or a
	// tombstone, or when more than maxAttempts are counted (the limit was
	// lowered), which burns it.
	ConsumeChallenge(ctx context.Context, id string, maxAttempts int) error
	// ConsumeChallengeForSession atomically consumes challenge id and writes
	// s, under the conditions of ConsumeChallenge; of concurrent calls for
	// one challenge exactly one succeeds, the others fail with
	// CHALLENGE_NOT_FOUND. The challenge is deleted, or turned into a
	// tombstone of s.Session until s.RetryUntil (see NewSession). It fails
	// with ErrRevokedMeanwhile, writing nothing, when a revoke-all of
	// s.UserID was marked after s.RevokeAllMark.
	ConsumeChallengeForSession(ctx context.Context, id string, maxAttempts int, s NewSession) error

	// RevokeAllMark returns the mark of the latest revoke-all of any user
	// (0 before the first): a number that MarkRevokeAll only ever raises.
	RevokeAllMark(ctx context.Context) (int64, error)
	// MarkRevokeAll raises the revoke-all mark and records the new mark as
	// the latest revoke-all of user userID, kept for keep (at least as long
	// as a login started before it may still write its session). It comes before
	// the user's sessions are listed and revoked, so that a session whose
	// login resolved the user before the revoke-all is either listed and
	// revoked, or refused when it is written (ErrRevokedMeanwhile).
	MarkRevokeAll(ctx context.Context, userID string, keep time.Duration) error

	// RefreshToken looks up the refresh token with hash (hex SHA-256).
	RefreshToken(ctx context.Context, hash string) (RefreshToken, error)
	// Session returns live session id (its record exists and is active).
	Session(ctx context.Context, id string) (Session, error)
	// CurrentRefreshToken returns the hash of the current refresh token of
	// session id; "" when it has none (the session is gone).
	CurrentRefreshToken(ctx context.Context, id string) (string, error)
	// RotateRefreshToken atomically marks r.OldHash used (at r.UsedAt, with
	// r.NewHash as its successor) and makes r.NewHash the session's refresh
	// token, expiring with the session. It fails with
	// ErrRefreshTokenReused when r.OldHash is already used (of concurrent
	// rotations of one token exactly one succeeds) and INVALID_REFRESH_TOKEN
	// when the token or its live session is gone.
	RotateRefreshToken(ctx context.Context, r Rotation) error
	// RevokeSession atomically deletes live session id, its refresh token and
	// its entry in the user's session set, and publishes the revocation
	// signal with reason. A non-empty owner must own the session.
	RevokeSession(ctx context.Context, id, owner string, reason RevocationReason) error
	// UserSessions returns the live sessions of user userID, in no order,
	// and forgets the ids of sessions that have expired.
	UserSessions(ctx context.Context, userID string) ([]Session, error)
}

// ErrRevokedMeanwhile is what Store.ConsumeChallengeForSession returns when
// every session of the new session's user was revoked after its login
// resolved the user. The Service resolves the user again.
var ErrRevokedMeanwhile = errors.New("auth: the user's sessions were revoked after the user was resolved")

// ErrRefreshTokenReused is what Store.RotateRefreshToken returns for a
// refresh token that is already used. The Service turns it into a replay;
// should it ever escape, it still answers INVALID_REFRESH_TOKEN.
var ErrRefreshTokenReused error = apierror.New(apierror.InvalidRefreshToken, "the refresh token is already used")

// Limiter keeps the abuse counters of email login. Names are chosen by the
// Service and never hold an email address; the limiter keeps each under its
// own key.
type Limiter interface {
	// Hit counts one event in the fixed window of name, which opens with its
	// first event and lasts window. It returns the count, this event
	// included, and the time left in the window.
	Hit(ctx context.Context, name string, window time.Duration) (count int64, left time.Duration, err error)
	// Count returns the count of name and the time left in its window.
	Count(ctx context.Context, name string) (count int64, left time.Duration, err error)
	// Claim takes name for ttl unless it is taken; when it is, it returns
	// false and the time until it is free.
	Claim(ctx context.Context, name string, ttl time.Duration) (claimed bool, left time.Duration, err error)
	// Release frees name.
	Release(ctx context.Context, name string) error
	// Unhit takes back one event that Hit counted in the current window of
	// name; a window that has ended, or holds no event, is left alone.
	Unhit(ctx context.Context, name string) error
}

// Mailer delivers login codes.
type Mailer interface {
	SendLoginCode(ctx context.Context, m LoginCodeMessage) error
}

// Users talks to the user service.
type Users interface {
	// Resolve returns (creating on first sight) the user owning email.
	Resolve(ctx context.Context, email string) (User, error)
	// User returns user id; ErrUserNotFound when the user service knows no
	// such user.
	User(ctx context.Context, id string) (User, error)
}

// ErrUserNotFound is what Users.User returns for an unknown user.
var ErrUserNotFound = errors.New("auth: no such user")

// MaxUserIDLength bounds a user id (it becomes part of Redis keys and tokens).
const MaxUserIDLength = 256

// TokenIssuer signs access tokens.
type TokenIssuer interface {
	// Issue returns a signed access token for the session and its expiry.
	Issue(userID, sessionID string, now time.Time) (token string, expiresAt time.Time, err error)
}
