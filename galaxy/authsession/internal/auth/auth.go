// Package auth is the authsession domain: email one-time-code login that ends
// in a session and a token pair. It talks to Redis, the mail service, the user
// service and the token signer only through the interfaces below.
package auth

import (
	"context"
	"time"
)

// Challenge is a pending email login. The code itself is never kept; only its
// keyed hash is. The store forgets a challenge when it expires: that is the
// one place the code lifetime is enforced.
type Challenge struct {
	ID        string
	Email     string
	CodeHash  string // hex HMAC-SHA-256, see Service.codeHash
	Attempts  int    // wrong codes so far
	ClientID  string
	CreatedAt time.Time // whole seconds
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
}

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
// CHALLENGE_NOT_FOUND for a missing challenge, DEPENDENCY_UNAVAILABLE when
// the store itself fails.
type Store interface {
	// CreateChallenge stores c until expiresAt.
	CreateChallenge(ctx context.Context, c Challenge, expiresAt time.Time) error
	// Challenge returns the live challenge id.
	Challenge(ctx context.Context, id string) (Challenge, error)
	// DeleteChallenge forgets challenge id; a missing one is not an error.
	DeleteChallenge(ctx context.Context, id string) error
	// RecordWrongCode atomically counts one wrong code against challenge id
	// and deletes the challenge when the count reaches maxAttempts, which it
	// then reports as burned.
	RecordWrongCode(ctx context.Context, id string, maxAttempts int) (burned bool, err error)
	// ConsumeChallenge atomically deletes challenge id; it fails with
	// CHALLENGE_NOT_FOUND when the challenge is already gone.
	ConsumeChallenge(ctx context.Context, id string) error
	// ConsumeChallengeForSession atomically deletes challenge id and writes s;
	// of concurrent calls for one challenge exactly one succeeds, the others
	// fail with CHALLENGE_NOT_FOUND.
	ConsumeChallengeForSession(ctx context.Context, id string, s NewSession) error
}

// Mailer delivers login codes.
type Mailer interface {
	SendLoginCode(ctx context.Context, m LoginCodeMessage) error
}

// Users resolves (creating on first sight) the user owning an email.
type Users interface {
	Resolve(ctx context.Context, email string) (User, error)
}

// TokenIssuer signs access tokens.
type TokenIssuer interface {
	// Issue returns a signed access token for the session and its expiry.
	Issue(userID, sessionID string, now time.Time) (token string, expiresAt time.Time, err error)
}
