package auth

import (
	"context"
	"crypto/hmac"
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

// StartResult is the answer to StartEmailLogin.
type StartResult struct {
	ChallengeID string
	ExpiresAt   time.Time
}

// StartEmailLogin creates a challenge for email and mails its code, once
// the abuse limits admit it. The answer does not depend on whether a user
// owns email: the user is only resolved when the code is confirmed.
func (s *Service) StartEmailLogin(ctx context.Context, email, clientID string) (StartResult, error) {
	addr, err := NormalizeEmail(email)
	if err != nil {
		return StartResult{}, err
	}
	if err := checkClientID(clientID); err != nil {
		return StartResult{}, err
	}
	if err := stillWanted(ctx); err != nil {
		return StartResult{}, err
	}
	subject := s.limitSubject(addr)
	if err := s.admitStart(ctx, subject, clientID); err != nil {
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
	if err := stillWanted(ctx); err != nil {
		s.forgetStart(ctx, "", subject, clientID)
		return StartResult{}, err
	}
	if err := s.store.CreateChallenge(ctx, c, expiresAt); err != nil {
		return StartResult{}, err
	}

	msg := LoginCodeMessage{To: addr, Code: code, ExpiresAt: expiresAt, IdempotencyKey: id}
	err = stillWanted(ctx)
	if err == nil {
		err = asDependency("mail", s.mailer.SendLoginCode(ctx, msg))
	}
	if err != nil {
		// The challenge of an undelivered code is forgotten, and the limits
		// it used are given back, so a flaky mail service does not lock the
		// user out. Should it fail, the leftovers are harmless: nobody knows
		// the code, and they all expire.
		s.forgetStart(ctx, id, subject, clientID)
		return StartResult{}, err
	}
	return StartResult{ChallengeID: id, ExpiresAt: expiresAt}, nil
}

// forgetStart forgets challenge id (when one was stored), whose code was
// not sent, and gives back the limits its start used. The caller may be
// gone, so it gets its own short deadline.
func (s *Service) forgetStart(ctx context.Context, id, subject, clientID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachedTimeout)
	defer cancel()
	if id != "" {
		_ = s.store.DeleteChallenge(ctx, id)
	}
	s.releaseStart(ctx, subject, clientID)
}

// Grant is a session with a fresh token pair: the answer to
// ConfirmEmailLogin and RefreshSession.
type Grant struct {
	Session Session
	Tokens  Tokens
}

// ConfirmEmailLogin exchanges challenge challengeID and its code for a new
// session of the user owning the challenge's email. Every code is counted
// against the challenge before it is compared, so however many guesses
// arrive at once, no more than the allowed attempts are ever compared.
// Once the email has reached its failed-attempt cap, no code is compared.
func (s *Service) ConfirmEmailLogin(ctx context.Context, challengeID, code, clientID string) (Grant, error) {
	if challengeID == "" {
		return Grant{}, apierror.New(apierror.InvalidArgument, "challenge_id is required")
	}
	if !validCode(code) {
		return Grant{}, apierror.New(apierror.InvalidArgument, "code must be exactly %d digits", CodeLength)
	}
	if err := checkClientID(clientID); err != nil {
		return Grant{}, err
	}
	if !validID(challengeID, challengeIDBytes) {
		return Grant{}, ErrChallengeNotFound
	}
	if err := stillWanted(ctx); err != nil {
		return Grant{}, err
	}

	c, err := s.store.Challenge(ctx, challengeID)
	if err != nil {
		return Grant{}, err
	}
	if c.SessionID != "" {
		return s.confirmAgain(ctx, c, code, true)
	}
	subject := s.limitSubject(c.Email)
	if err := s.checkFailedAttempts(ctx, subject); err != nil { // the cheap refusal
		return Grant{}, err
	}
	if err := stillWanted(ctx); err != nil {
		return Grant{}, err
	}
	c, err = s.store.ReserveAttempt(ctx, c.ID, s.maxAttempts)
	if err != nil {
		return Grant{}, err
	}
	if c.SessionID != "" { // consumed meanwhile: the attempt is the tombstone's
		return s.confirmAgain(ctx, c, code, false)
	}
	// The code is also counted as a failed attempt of the email before it
	// is compared, in one atomic step with the cap's check; a refusal gives
	// the challenge's attempt back, a right code gives the count back.
	err = stillWanted(ctx)
	if err == nil {
		err = s.reserveFailedAttempt(ctx, subject)
	}
	if err != nil {
		// A Redis that just failed is not asked again: the answer must not
		// wait on it, and the attempt left counted only makes the challenge
		// stricter.
		if !apierror.Is(err, apierror.DependencyUnavailable) {
			s.releaseAttempt(ctx, c.ID)
		}
		return Grant{}, err
	}
	if !codeMatches(s.codeKey, c, code) {
		return Grant{}, s.wrongCode(ctx, c)
	}
	s.releaseFailedAttempt(ctx, subject)

	// The user is resolved before the challenge is consumed, so a user
	// service failure leaves the code usable for a retry; the attempt of
	// the right code is taken back, as it is when the caller's deadline
	// passes before the challenge is consumed.
	user, err := s.resolveUser(ctx, c.Email)
	if err == nil {
		err = stillWanted(ctx)
	}
	if err != nil {
		s.releaseAttempt(ctx, c.ID)
		return Grant{}, err
	}
	if user.Status != UserActive {
		if err := s.store.ConsumeChallenge(ctx, c.ID, s.maxAttempts); err != nil {
			return Grant{}, err
		}
		return Grant{}, apierror.New(apierror.UserDisabled, "the user is disabled")
	}

	consumedAt := s.now()
	now := consumedAt.Truncate(time.Second)
	sess := Session{
		ID:        randomToken(sessionIDBytes),
		UserID:    user.ID,
		Email:     c.Email,
		CreatedAt: now,
		ExpiresAt: now.Add(s.sessionTTL),
	}
	refresh := s.initialRefreshToken(c.ID, code)
	tokens, err := s.newTokens(sess, now, refresh)
	if err != nil {
		return Grant{}, err
	}
	ns := NewSession{Session: sess, RefreshTokenHash: HashRefreshToken(refresh), ConsumedAt: consumedAt}
	if s.grace > 0 {
		ns.RetryUntil = consumedAt.Add(s.grace)
	}
	err = s.store.ConsumeChallengeForSession(ctx, c.ID, s.maxAttempts, ns)
	if apierror.Is(err, apierror.ChallengeNotFound) && s.grace > 0 {
		// A concurrent confirm may have consumed the challenge with this
		// same code: then this one answers the session it opened.
		if t, terr := s.store.Challenge(ctx, c.ID); terr == nil && t.SessionID != "" {
			return s.confirmAgain(ctx, t, code, false)
		}
	}
	if err != nil {
		return Grant{}, err
	}
	return Grant{Session: sess, Tokens: tokens}, nil
}

// confirmAgain answers a confirm that found challenge t consumed, a
// tombstone: within the retry grace window, with the right code, while the
// session it opened is live and still holds the refresh token that confirm
// handed out (the client never used it), it answers that session with that
// refresh token and a fresh access token; anything else is
// CHALLENGE_NOT_FOUND. Each code compared against the tombstone is one of
// the challenge's attempts, so no more codes than allowed are ever
// compared; a wrong one counts against nothing else (no INVALID_CODE, no
// failed-attempt cap). reserve says whether this call must still reserve
// its comparison.
func (s *Service) confirmAgain(ctx context.Context, t Challenge, code string, reserve bool) (Grant, error) {
	if s.grace <= 0 || !s.now().Before(t.ConsumedAt.Add(s.grace)) {
		return Grant{}, ErrChallengeNotFound
	}
	if reserve {
		if err := stillWanted(ctx); err != nil {
			return Grant{}, err
		}
		var err error
		if t, err = s.store.ReserveAttempt(ctx, t.ID, s.maxAttempts); err != nil {
			return Grant{}, err
		}
		if t.SessionID == "" {
			return Grant{}, ErrChallengeNotFound
		}
	}
	if !codeMatches(s.codeKey, t, code) {
		return Grant{}, ErrChallengeNotFound
	}
	g, err := s.grantAgain(ctx, t.SessionID, s.initialRefreshToken(t.ID, code))
	switch {
	case errors.Is(err, errNoRetry):
		return Grant{}, ErrChallengeNotFound
	case err != nil && reserve && (apierror.Is(err, apierror.DependencyUnavailable) || isContextError(err)):
		s.releaseAttempt(ctx, t.ID) // nothing was used up: the retry may be retried
	}
	return g, err
}

// errNoRetry is what grantAgain answers when the session is gone or no
// longer holds the refresh token to hand out again.
var errNoRetry = errors.New("auth: not a retry")

// grantAgain answers a retry for session id with refresh, the refresh token
// already handed out for it, and a freshly signed access token, writing
// nothing: provided the session is live and refresh is still its current
// refresh token (errNoRetry otherwise), and its owner is still active, as
// for any refresh.
func (s *Service) grantAgain(ctx context.Context, id, refresh string) (Grant, error) {
	sess, err := s.store.Session(ctx, id)
	if apierror.Is(err, apierror.SessionNotFound) {
		return Grant{}, errNoRetry
	}
	if err != nil {
		return Grant{}, err
	}
	now := s.now().Truncate(time.Second)
	if !now.Before(sess.ExpiresAt) {
		return Grant{}, errNoRetry
	}
	current, err := s.store.CurrentRefreshToken(ctx, id)
	if err != nil {
		return Grant{}, err
	}
	if !hmac.Equal([]byte(current), []byte(HashRefreshToken(refresh))) {
		return Grant{}, errNoRetry
	}
	if err := s.checkOwner(ctx, sess); err != nil {
		return Grant{}, err
	}
	tokens, err := s.newTokens(sess, now, refresh)
	if err != nil {
		return Grant{}, err
	}
	return Grant{Session: sess, Tokens: tokens}, nil
}

// initialRefreshToken is the refresh token of the session that challenge
// id opens with code: only the right code derives it again.
func (s *Service) initialRefreshToken(challengeID, code string) string {
	return deriveToken(s.refreshKey, initialTokenLabel, challengeID, code)
}

// successorToken is the refresh token that replaces token on rotation.
func (s *Service) successorToken(token string) string {
	return deriveToken(s.refreshKey, successorTokenLabel, token)
}

// resolveUser asks the user service for the user owning email, unless the
// caller's deadline has passed.
func (s *Service) resolveUser(ctx context.Context, email string) (User, error) {
	if err := stillWanted(ctx); err != nil {
		return User{}, err
	}
	user, err := s.users.Resolve(ctx, email)
	return user, asDependency("user", err)
}

// newTokens issues a pair for sess at now: a signed access token and
// refresh, which expires with the session (its absolute lifetime). The
// caller stores the refresh token's hash.
func (s *Service) newTokens(sess Session, now time.Time, refresh string) (Tokens, error) {
	access, accessExp, err := s.tokens.Issue(sess.UserID, sess.ID, now)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{
		AccessToken:           access,
		AccessTokenExpiresAt:  accessExp,
		RefreshToken:          refresh,
		RefreshTokenExpiresAt: sess.ExpiresAt,
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

// wrongCode answers a wrong code for challenge c, whose attempt is already
// counted (c.Attempts includes it): the code counts against the
// failed-attempt cap of the email's limit subject, and the last allowed
// attempt burns the challenge.
func (s *Service) wrongCode(ctx context.Context, c Challenge) error {
	// The code was counted against the challenge and the email before it
	// was compared; what is left may outlive the caller's deadline.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachedTimeout)
	defer cancel()
	if c.Attempts < s.maxAttempts {
		return apierror.New(apierror.InvalidCode, "the code does not match")
	}
	// Should the delete fail, the challenge, every attempt taken, refuses
	// any further code until it expires.
	if err := s.store.DeleteChallenge(ctx, c.ID); err != nil {
		return err
	}
	return apierror.New(apierror.TooManyAttempts, "too many wrong codes; start a new login")
}

// releaseAttempt takes back the attempt of a right code that used nothing
// up, even when the caller has gone. Should it fail, the attempt stays
// counted: the challenge has one retry less.
func (s *Service) releaseAttempt(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachedTimeout)
	defer cancel()
	_ = s.store.ReleaseAttempt(ctx, id)
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
