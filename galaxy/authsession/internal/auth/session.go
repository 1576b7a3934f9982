package auth

import (
	"cmp"
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"slices"
	"time"

	"galaxy/authsession/internal/deadline"
	"galaxy/platform/apierror"
)

// ErrInvalidRefreshToken is the one answer to a refresh token that does not
// buy a new pair: unknown, expired, revoked or already used. A Store
// returns it for an unknown refresh token.
var ErrInvalidRefreshToken error = apierror.New(apierror.InvalidRefreshToken, "the refresh token is unknown, expired, revoked or already used")

// ErrSessionNotFound is the error for a session that is not live, or not
// the caller's; a Store returns it for a session that is not live.
var ErrSessionNotFound error = apierror.New(apierror.SessionNotFound, "no such session")

// RefreshSession rotates refreshToken: the answer holds a new pair and the
// presented token becomes used. Presenting a used token again is a retry
// within the grace window, as long as its successor was never used, and
// gets that same successor again; otherwise it is a replay, which revokes
// the whole session (contracts/tokens.md). Rotation never extends the
// session: the new refresh token expires with it.
func (s *Service) RefreshSession(ctx context.Context, refreshToken, clientID string) (Grant, error) {
	if refreshToken == "" {
		return Grant{}, apierror.New(apierror.InvalidArgument, "refresh_token is required")
	}
	if err := checkClientID(clientID); err != nil {
		return Grant{}, err
	}
	if !validID(refreshToken, refreshTokenBytes) {
		return Grant{}, ErrInvalidRefreshToken
	}
	if err := stillWanted(ctx); err != nil {
		return Grant{}, err
	}

	hash := HashRefreshToken(refreshToken)
	tok, err := s.store.RefreshToken(ctx, hash)
	if err != nil {
		return Grant{}, err
	}
	if tok.Used {
		return s.refreshAgain(ctx, refreshToken, tok)
	}
	sess, err := s.store.Session(ctx, tok.SessionID)
	if apierror.Is(err, apierror.SessionNotFound) {
		return Grant{}, ErrInvalidRefreshToken
	}
	if err != nil {
		return Grant{}, err
	}
	now := s.now().Truncate(time.Second)
	if !now.Before(sess.ExpiresAt) {
		return Grant{}, ErrInvalidRefreshToken
	}
	if err := s.checkOwner(ctx, sess); err != nil {
		if errors.Is(err, errEndedMeanwhile) {
			return Grant{}, ErrInvalidRefreshToken // the session ended first: answered as any ended session's token
		}
		return Grant{}, err
	}

	tokens, err := s.newTokens(sess, now, s.successorToken(refreshToken))
	if err != nil {
		return Grant{}, err
	}
	if err := stillWanted(ctx); err != nil {
		return Grant{}, err
	}
	err = s.store.RotateRefreshToken(ctx, Rotation{SessionID: sess.ID, OldHash: hash, NewHash: HashRefreshToken(tokens.RefreshToken), UsedAt: s.now()})
	if errors.Is(err, ErrRefreshTokenReused) {
		// A concurrent refresh with the same token won the rotation: this
		// one is judged like any presentation of a used token.
		tok, err := s.store.RefreshToken(ctx, hash)
		if err != nil {
			return Grant{}, err
		}
		return s.refreshAgain(ctx, refreshToken, tok)
	}
	if err != nil {
		return Grant{}, err
	}
	return Grant{Session: sess, Tokens: tokens}, nil
}

// refreshAgain answers the presentation of used refresh token token (tok).
// It is a retry when the grace window since its use has not ended and the
// session still holds its successor as the current refresh token (the
// successor was never used): the answer is that successor again, with a
// fresh access token, and nothing is written. Anything else is a replay:
// the whole session is revoked.
func (s *Service) refreshAgain(ctx context.Context, token string, tok RefreshToken) (Grant, error) {
	if s.grace > 0 && tok.SuccessorHash != "" && s.now().Before(tok.UsedAt.Add(s.grace)) {
		successor := s.successorToken(token)
		if hmac.Equal([]byte(HashRefreshToken(successor)), []byte(tok.SuccessorHash)) {
			g, err := s.grantAgain(ctx, tok.SessionID, successor)
			if !errors.Is(err, errNoRetry) {
				return g, err
			}
		}
	}
	return Grant{}, s.revokeAnd(ctx, tok.SessionID, "", ReasonReplay, ErrInvalidRefreshToken)
}

// errEndedMeanwhile is checkOwner's answer when the owner was disabled and
// the session it was to revoke for that had already ended, by another call
// that crossed this one (a concurrent refresh that revoked it, a logout, a
// revoke-all): this call is then answered as one made after that end.
var errEndedMeanwhile = errors.New("auth: the session ended while its owner was asked about")

// checkOwner asks the user service about the owner of sess before a
// rotation: a disabled or vanished user loses the session. When the user
// service fails, nothing changes and the token stays usable. A disabled
// owner's session that another call ended meanwhile is errEndedMeanwhile:
// of calls that cross, only the one whose revocation ends the session
// answers USER_DISABLED.
func (s *Service) checkOwner(ctx context.Context, sess Session) error {
	if err := stillWanted(ctx); err != nil {
		return err
	}
	user, err := s.users.User(ctx, sess.UserID)
	switch {
	case errors.Is(err, ErrUserNotFound):
		return s.revokeAnd(ctx, sess.ID, sess.UserID, ReasonRevoked, ErrInvalidRefreshToken)
	case err != nil:
		return asDependency("user", err)
	case user.Status != UserActive:
		err := s.revoke(ctx, sess.ID, sess.UserID, ReasonUserDisabled)
		if apierror.Is(err, apierror.SessionNotFound) {
			return errEndedMeanwhile
		}
		if err != nil {
			return err
		}
		return apierror.New(apierror.UserDisabled, "the user is disabled")
	}
	return nil
}

// RevokeSession revokes session sessionID of user userID. A session of
// another user answers exactly like an unknown one.
func (s *Service) RevokeSession(ctx context.Context, userID, sessionID string) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	if sessionID == "" {
		return apierror.New(apierror.InvalidArgument, "session_id is required")
	}
	if !validID(sessionID, sessionIDBytes) {
		return ErrSessionNotFound
	}
	return s.revoke(ctx, sessionID, userID, ReasonLogout)
}

// RevokeAllSessions revokes every live session of user userID and returns
// how many it revoked. It first marks the revoke-all (Store.MarkRevokeAll):
// a login of the user that resolved the user before the mark and writes
// its session after the listing below is refused and resolves the user
// again (openSession), so no session opened on the user's state from
// before the revocation outlives it. When it fails part-way, calling it
// again completes it.
func (s *Service) RevokeAllSessions(ctx context.Context, userID string) (int, error) {
	if err := checkUserID(userID); err != nil {
		return 0, err
	}
	if err := stillWanted(ctx); err != nil {
		return 0, err
	}
	// The user's mark matters to logins whose challenge was created before
	// it, which end (by a session or by expiry) within a code lifetime.
	if err := s.store.MarkRevokeAll(ctx, userID, s.codeTTL); err != nil {
		return 0, err
	}
	if err := stillWanted(ctx); err != nil {
		return 0, err
	}
	sessions, err := s.store.UserSessions(ctx, userID)
	if err != nil {
		return 0, err
	}
	var n int
	for _, sess := range sessions {
		err := s.revoke(ctx, sess.ID, userID, ReasonRevokeAll)
		switch {
		case err == nil:
			n++
		case !apierror.Is(err, apierror.SessionNotFound): // else ended meanwhile
			return n, err
		}
	}
	return n, nil
}

// ListSessions returns the live sessions of user userID, newest first.
func (s *Service) ListSessions(ctx context.Context, userID string) ([]Session, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	if err := stillWanted(ctx); err != nil {
		return nil, err
	}
	sessions, err := s.store.UserSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(sessions, func(a, b Session) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return sessions, nil
}

// revokeAnd revokes session id (of owner, when not empty) for reason and
// then answers answer; a session that is already gone needs nothing more.
func (s *Service) revokeAnd(ctx context.Context, id, owner string, reason RevocationReason, answer error) error {
	if err := s.revoke(ctx, id, owner, reason); err != nil && !apierror.Is(err, apierror.SessionNotFound) {
		return err
	}
	return answer
}

// revoke is the one way a session ends early: Store.RevokeSession deletes it
// and publishes the revocation signal. It does not start once the caller's
// deadline has passed; once started it runs to completion even when the
// caller goes away, so a decided revocation is never lost. The caller is
// answered within its deadline all the same (less the margin its answer
// needs): when the store has not confirmed the revocation by then, the
// answer is that Redis did not answer in time, while the revocation goes on.
func (s *Service) revoke(ctx context.Context, id, owner string, reason RevocationReason) error {
	if err := stillWanted(ctx); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		detached, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachedTimeout)
		defer cancel()
		done <- s.store.RevokeSession(detached, id, owner, reason)
	}()
	wait, cancel, err := deadline.Budget(ctx, detachedTimeout)
	defer cancel()
	if err != nil {
		wait = ctx // no time left to wait: answer as soon as the caller's own deadline ends
	}
	select {
	case err := <-done:
		return err
	case <-wait.Done():
		return apierror.Dependency(storeDependency, fmt.Errorf("revocation not confirmed within the caller's deadline: %w", wait.Err()))
	}
}

// storeDependency names the Store in errors: it is Redis (contracts/redis.md).
const storeDependency = "redis"

func checkUserID(id string) error {
	if id == "" {
		return apierror.New(apierror.InvalidArgument, "user_id is required")
	}
	if len(id) > MaxUserIDLength {
		return apierror.New(apierror.InvalidArgument, "user_id is longer than %d bytes", MaxUserIDLength)
	}
	return nil
}
