package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"time"

	"galaxy/platform/apierror"
)

// Sizes of the random identifiers, in bytes.
const (
	challengeIDBytes  = 16
	sessionIDBytes    = 16
	refreshTokenBytes = 32
)

// maxClientIDLength bounds the client id a caller may attach.
const maxClientIDLength = 256

// detachedTimeout bounds work that must finish even when the caller has
// gone: forgetting a challenge whose mail failed, revoking a session.
const detachedTimeout = 2 * time.Second

// Options configure a Service. Every field except Now is required.
type Options struct {
	Store   Store
	Limiter Limiter
	Mailer  Mailer
	Users   Users
	Tokens  TokenIssuer
	// CodeSecret is the secret the login-code and limiter MAC keys are
	// derived from (the signing key's seed): it must be at least 32 bytes.
	CodeSecret      []byte
	CodeTTL         time.Duration
	CodeMaxAttempts int
	SessionTTL      time.Duration
	// RetryGrace is how long a confirm or a refresh whose answer was lost
	// may be retried with the same inputs (contracts/tokens.md, "Retries");
	// 0 turns retries off.
	RetryGrace time.Duration
	Limits     Limits
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Service runs email logins and sessions.
type Service struct {
	store       Store
	limiter     Limiter
	mailer      Mailer
	users       Users
	tokens      TokenIssuer
	codeKey     []byte
	limitKey    []byte
	refreshKey  []byte
	codeTTL     time.Duration
	maxAttempts int
	sessionTTL  time.Duration
	grace       time.Duration
	limits      Limits
	now         func() time.Time
}

// NewService checks opts and returns a Service.
func NewService(opts Options) (*Service, error) {
	var errs []error
	if opts.Store == nil {
		errs = append(errs, errors.New("a store is required"))
	}
	if opts.Limiter == nil {
		errs = append(errs, errors.New("a limiter is required"))
	}
	if opts.Mailer == nil {
		errs = append(errs, errors.New("a mailer is required"))
	}
	if opts.Users == nil {
		errs = append(errs, errors.New("a user service client is required"))
	}
	if opts.Tokens == nil {
		errs = append(errs, errors.New("a token issuer is required"))
	}
	if len(opts.CodeSecret) < 32 {
		errs = append(errs, errors.New("the code secret must be at least 32 bytes"))
	}
	if opts.CodeTTL <= 0 || opts.SessionTTL <= 0 {
		errs = append(errs, errors.New("code and session lifetimes must be positive"))
	}
	if opts.RetryGrace < 0 {
		errs = append(errs, errors.New("the retry grace window must not be negative"))
	}
	if opts.CodeMaxAttempts < 1 {
		errs = append(errs, errors.New("at least one code attempt must be allowed"))
	}
	if err := opts.Limits.check(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(errors.New("auth: invalid options"), err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Service{
		store:       opts.Store,
		limiter:     opts.Limiter,
		mailer:      opts.Mailer,
		users:       opts.Users,
		tokens:      opts.Tokens,
		codeKey:     deriveKey(opts.CodeSecret, codeKeyLabel),
		limitKey:    deriveKey(opts.CodeSecret, limitKeyLabel),
		refreshKey:  deriveKey(opts.CodeSecret, refreshKeyLabel),
		codeTTL:     opts.CodeTTL,
		maxAttempts: opts.CodeMaxAttempts,
		sessionTTL:  opts.SessionTTL,
		grace:       opts.RetryGrace,
		limits:      opts.Limits,
		now:         now,
	}, nil
}

func checkClientID(id string) error {
	if len(id) > maxClientIDLength {
		return apierror.New(apierror.InvalidArgument, "client_id is longer than %d bytes", maxClientIDLength)
	}
	return nil
}

// validID reports whether id could have been issued as a random value of
// n bytes, base64url without padding. Anything else cannot name a
// challenge, a session or a refresh token.
func validID(id string, n int) bool {
	b, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil && len(b) == n
}

// asDependency keeps nil, an error that already carries a code (the clients
// return DEPENDENCY_UNAVAILABLE themselves) and the caller's deadline (no
// time was left to make the call), and classifies anything else as a
// failure of the named dependency.
func asDependency(name string, err error) error {
	var e *apierror.Error
	if err == nil || errors.As(err, &e) || isContextError(err) {
		return err
	}
	return apierror.Dependency(name, err)
}

func isContextError(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// stillWanted reports whether work may still start for the caller of ctx.
// Once its deadline has passed, or it has gone away, nothing more is
// written or asked of a dependency, and the context's error is the answer
// (gRPC DEADLINE_EXCEEDED or CANCELLED). Compensations of work already done
// (giving back an attempt or a start) and decided revocations still run on
// their own deadline.
func stillWanted(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}
