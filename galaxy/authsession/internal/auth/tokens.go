package auth

import (
	"context"
	"crypto/hmac"
	"errors"
	"time"

	"galaxy/platform/apierror"
)

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
		if errors.Is(err, errEndedMeanwhile) {
			return Grant{}, errNoRetry // the session ended first: nothing to retry
		}
		return Grant{}, err
	}
	tokens, err := s.newTokens(sess, now, refresh)
	if err != nil {
		return Grant{}, err
	}
	return Grant{Session: sess, Tokens: tokens}, nil
}

// successorToken is the refresh token that replaces token on rotation.
func (s *Service) successorToken(token string) string {
	return deriveToken(s.refreshKey, successorTokenLabel, token)
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
