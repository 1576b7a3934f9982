package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"galaxy/platform/apierror"
)

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

	return s.openSession(ctx, c, code)
}

// maxResolveRounds bounds how often a confirm resolves its user again
// because a RevokeAllSessions of that user came in between.
const maxResolveRounds = 3

// openSession exchanges challenge c, whose right code is code, for a new
// session of the user owning its email.
//
// The user is resolved before the challenge is consumed, so a user service
// failure leaves the code usable for a retry; the attempt of the right code
// is taken back, as it is when the caller's deadline passes before the
// challenge is consumed.
//
// The revoke-all mark is read before the user is resolved and the session
// is written only if no RevokeAllSessions of that user was marked since: a
// user disabled (and every session revoked) after the user service
// answered "active" would otherwise keep the session this login opens just
// after the revocation ran. The user is then resolved again: disabled, it
// gets no session; still active (every session was revoked for another
// reason), it gets one.
func (s *Service) openSession(ctx context.Context, c Challenge, code string) (Grant, error) {
	for round := 1; ; round++ {
		err := stillWanted(ctx)
		var mark int64
		if err == nil {
			mark, err = s.store.RevokeAllMark(ctx)
		}
		if err != nil {
			// A Redis that just failed is not asked again (see above).
			if !apierror.Is(err, apierror.DependencyUnavailable) {
				s.releaseAttempt(ctx, c.ID)
			}
			return Grant{}, err
		}
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
		g, err := s.createSession(ctx, c, code, user, mark)
		if !errors.Is(err, ErrRevokedMeanwhile) {
			return g, err
		}
		if round == maxResolveRounds {
			s.releaseAttempt(ctx, c.ID)
			return Grant{}, apierror.Dependency("user", fmt.Errorf("every session of user %s was revoked during each of %d resolutions", user.ID, round))
		}
	}
}

// createSession consumes challenge c for a new session of user, refused
// (ErrRevokedMeanwhile) when a revoke-all of the user was marked after mark.
func (s *Service) createSession(ctx context.Context, c Challenge, code string, user User, mark int64) (Grant, error) {
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
	ns := NewSession{Session: sess, RefreshTokenHash: HashRefreshToken(refresh), ConsumedAt: consumedAt, RevokeAllMark: mark}
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

// initialRefreshToken is the refresh token of the session that challenge
// id opens with code: only the right code derives it again.
func (s *Service) initialRefreshToken(challengeID, code string) string {
	return deriveToken(s.refreshKey, initialTokenLabel, challengeID, code)
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

// ErrChallengeNotFound is the error for a challenge that is unknown,
// expired, used or burned; a Store returns it for a missing challenge.
var ErrChallengeNotFound error = apierror.New(apierror.ChallengeNotFound, "the login challenge is unknown, expired or already used")

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
