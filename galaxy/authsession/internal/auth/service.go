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

// cleanupTimeout bounds the deletion of a challenge whose mail failed.
const cleanupTimeout = 2 * time.Second

// Options configure a Service. Every field except Now is required.
type Options struct {
	Store  Store
	Mailer Mailer
	Users  Users
	Tokens TokenIssuer
	// CodeSecret is the secret the login-code MAC key is derived from (the
	// signing key's seed): it must be at least 32 bytes.
	CodeSecret      []byte
	CodeTTL         time.Duration
	CodeMaxAttempts int
	SessionTTL      time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Service runs email logins.
type Service struct {
	store       Store
	mailer      Mailer
	users       Users
	tokens      TokenIssuer
	codeKey     []byte
	codeTTL     time.Duration
	maxAttempts int
	sessionTTL  time.Duration
	now         func() time.Time
}

// NewService checks opts and returns a Service.
func NewService(opts Options) (*Service, error) {
	var errs []error
	if opts.Store == nil {
		errs = append(errs, errors.New("a store is required"))
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
	if opts.CodeMaxAttempts < 1 {
		errs = append(errs, errors.New("at least one code attempt must be allowed"))
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
		mailer:      opts.Mailer,
		users:       opts.Users,
		tokens:      opts.Tokens,
		codeKey:     deriveCodeKey(opts.CodeSecret),
		codeTTL:     opts.CodeTTL,
		maxAttempts: opts.CodeMaxAttempts,
		sessionTTL:  opts.SessionTTL,
		now:         now,
	}, nil
}

// StartResult is the answer to StartEmailLogin.
type StartResult struct {
	ChallengeID string
	ExpiresAt   time.Time
}

// StartEmailLogin creates a challenge for email and mails its code. The
// answer does not depend on whether a user owns email: the user is only
// resolved when the code is confirmed.
func (s *Service) StartEmailLogin(ctx context.Context, email, clientID string) (StartResult, error) {
	addr, err := NormalizeEmail(email)
	if err != nil {
		return StartResult{}, err
	}
	if err := checkClientID(clientID); err != nil {
		return StartResult{}, err
	}

	now := s.now()
	id := randomToken(challengeIDBytes)
	code := NewCode()
	c := Challenge{
		ID:        id,
		Email:     addr,
		CodeHash:  codeHash(s.codeKey, id, code),
		ClientID:  clientID,
		CreatedAt: now,
	}
	expiresAt := now.Add(s.codeTTL)
	if err := s.store.CreateChallenge(ctx, c, expiresAt); err != nil {
		return StartResult{}, err
	}

	msg := LoginCodeMessage{To: addr, Code: code, ExpiresAt: expiresAt, IdempotencyKey: id}
	if err := s.mailer.SendLoginCode(ctx, msg); err != nil {
		// The challenge of an undelivered code is forgotten. The caller may
		// be gone, so the cleanup gets its own short deadline. Should the
		// delete fail, the leftover challenge is harmless: nobody knows its
		// code, and it expires with the code lifetime.
		cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		_ = s.store.DeleteChallenge(cleanupCtx, id)
		return StartResult{}, asDependency("mail", err)
	}
	return StartResult{ChallengeID: id, ExpiresAt: expiresAt}, nil
}

// ConfirmResult is the answer to ConfirmEmailLogin.
type ConfirmResult struct {
	Session Session
	Tokens  Tokens
}

// ConfirmEmailLogin exchanges challenge challengeID and its code for a new
// session of the user owning the challenge's email.
func (s *Service) ConfirmEmailLogin(ctx context.Context, challengeID, code, clientID string) (ConfirmResult, error) {
	if challengeID == "" {
		return ConfirmResult{}, apierror.New(apierror.InvalidArgument, "challenge_id is required")
	}
	if !validCode(code) {
		return ConfirmResult{}, apierror.New(apierror.InvalidArgument, "code must be exactly %d digits", CodeLength)
	}
	if err := checkClientID(clientID); err != nil {
		return ConfirmResult{}, err
	}
	if !validChallengeID(challengeID) {
		return ConfirmResult{}, ErrChallengeNotFound
	}

	c, err := s.store.Challenge(ctx, challengeID)
	if err != nil {
		return ConfirmResult{}, err
	}
	if !codeMatches(s.codeKey, c, code) {
		burned, err := s.store.RecordWrongCode(ctx, c.ID, s.maxAttempts)
		switch {
		case err != nil:
			return ConfirmResult{}, err
		case burned:
			return ConfirmResult{}, apierror.New(apierror.TooManyAttempts, "too many wrong codes; start a new login")
		default:
			return ConfirmResult{}, apierror.New(apierror.InvalidCode, "the code does not match")
		}
	}

	// The user is resolved before the challenge is consumed, so a user
	// service failure leaves the code usable for a retry.
	user, err := s.users.Resolve(ctx, c.Email)
	if err != nil {
		return ConfirmResult{}, asDependency("user", err)
	}
	if user.Status != UserActive {
		if err := s.store.ConsumeChallenge(ctx, c.ID); err != nil {
			return ConfirmResult{}, err
		}
		return ConfirmResult{}, apierror.New(apierror.UserDisabled, "the user is disabled")
	}

	now := s.now().Truncate(time.Second)
	sess := Session{
		ID:        randomToken(sessionIDBytes),
		UserID:    user.ID,
		Email:     c.Email,
		CreatedAt: now,
		ExpiresAt: now.Add(s.sessionTTL),
	}
	access, accessExp, err := s.tokens.Issue(sess.UserID, sess.ID, now)
	if err != nil {
		return ConfirmResult{}, err
	}
	refresh := randomToken(refreshTokenBytes)
	if err := s.store.ConsumeChallengeForSession(ctx, c.ID, NewSession{Session: sess, RefreshTokenHash: HashRefreshToken(refresh)}); err != nil {
		return ConfirmResult{}, err
	}
	return ConfirmResult{
		Session: sess,
		Tokens: Tokens{
			AccessToken:           access,
			AccessTokenExpiresAt:  accessExp,
			RefreshToken:          refresh,
			RefreshTokenExpiresAt: sess.ExpiresAt,
		},
	}, nil
}

// ErrChallengeNotFound is the error for a challenge that is unknown,
// expired, used or burned; a Store returns it for a missing challenge.
var ErrChallengeNotFound error = apierror.New(apierror.ChallengeNotFound, "the login challenge is unknown, expired or already used")

func checkClientID(id string) error {
	if len(id) > maxClientIDLength {
		return apierror.New(apierror.InvalidArgument, "client_id is longer than %d bytes", maxClientIDLength)
	}
	return nil
}

// validChallengeID reports whether id could have been issued: 16 bytes,
// base64url without padding. Anything else cannot name a challenge.
func validChallengeID(id string) bool {
	b, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil && len(b) == challengeIDBytes
}

// asDependency keeps an error that already carries a code (the clients
// return DEPENDENCY_UNAVAILABLE themselves) and classifies anything else as a
// failure of the named dependency.
func asDependency(name string, err error) error {
	var e *apierror.Error
	if errors.As(err, &e) {
		return err
	}
	return apierror.Dependency(name, err)
}
