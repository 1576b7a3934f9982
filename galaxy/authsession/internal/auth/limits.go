package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"galaxy/platform/apierror"
)

// Limits are the abuse limits of email login. They apply alike to known and
// unknown emails: no user is looked up to apply them.
type Limits struct {
	// ResendCooldown is the least time between two starts for one email.
	ResendCooldown time.Duration
	// StartsPerEmail and StartsPerClient bound the starts per email and per
	// client id in each fixed StartWindow.
	StartsPerEmail  int
	StartsPerClient int
	StartWindow     time.Duration
	// FailedAttemptsPerHour bounds the wrong codes per email in a fixed hour,
	// across challenges: at the cap the email can neither start a login nor
	// have a code compared until the hour ends.
	FailedAttemptsPerHour int
}

// failedAttemptsWindow is the window of Limits.FailedAttemptsPerHour.
const failedAttemptsWindow = time.Hour

func (l Limits) check() error {
	if l.ResendCooldown <= 0 || l.StartWindow <= 0 {
		return errors.New("the resend cooldown and the start limit window must be positive")
	}
	if l.StartsPerEmail < 1 || l.StartsPerClient < 1 || l.FailedAttemptsPerHour < 1 {
		return errors.New("each start limit and the failed-attempt limit must allow at least one")
	}
	return nil
}

// Limiter names. A subject is a keyed hash (limitSubject), never an email
// address or a client id.
func cooldownName(subject string) string       { return "resend-cooldown:" + subject }
func emailStartsName(subject string) string    { return "starts-email:" + subject }
func clientStartsName(subject string) string   { return "starts-client:" + subject }
func failedAttemptsName(subject string) string { return "failed-attempts:" + subject }

// limitSubject is the limiter's name for an email (already normalised) or a
// client id: hex HMAC-SHA-256 under a key derived from the code secret, so
// the stored names reveal neither, even to a dictionary.
func (s *Service) limitSubject(v string) string {
	m := hmac.New(sha256.New, s.limitKey)
	m.Write([]byte(v))
	return hex.EncodeToString(m.Sum(nil))
}

// admitStart applies the limits of StartEmailLogin, cheapest refusal first:
// the failed-attempt cap, the client's starts (every request of a client
// counts), the resend cooldown, then the email's starts (only starts past
// the cooldown count).
func (s *Service) admitStart(ctx context.Context, emailSubject, clientID string) error {
	if err := s.checkFailedAttempts(ctx, emailSubject); err != nil {
		return err
	}
	if clientID != "" {
		name := clientStartsName(s.limitSubject(clientID))
		if err := s.countStart(ctx, name, s.limits.StartsPerClient); err != nil {
			return err
		}
	}
	claimed, left, err := s.limiter.Claim(ctx, cooldownName(emailSubject), s.limits.ResendCooldown)
	if err != nil {
		return err
	}
	if !claimed {
		return limited(left, "a code was sent moments ago; wait before asking for another")
	}
	return s.countStart(ctx, emailStartsName(emailSubject), s.limits.StartsPerEmail)
}

// releaseStart gives back what admitStart took for a start that sent no
// code: the resend cooldown and the start of the email and of the client.
// It is best effort: what it fails to give back expires with its window.
func (s *Service) releaseStart(ctx context.Context, emailSubject, clientID string) {
	_ = s.limiter.Release(ctx, cooldownName(emailSubject))
	_ = s.limiter.Unhit(ctx, emailStartsName(emailSubject))
	if clientID != "" {
		_ = s.limiter.Unhit(ctx, clientStartsName(s.limitSubject(clientID)))
	}
}

// countStart counts a start against name and refuses it over limit.
func (s *Service) countStart(ctx context.Context, name string, limit int) error {
	n, left, err := s.limiter.Hit(ctx, name, s.limits.StartWindow)
	if err != nil {
		return err
	}
	if n > int64(limit) {
		return limited(left, "too many logins started; try again later")
	}
	return nil
}

// checkFailedAttempts refuses an email that has reached its failed-attempt cap.
func (s *Service) checkFailedAttempts(ctx context.Context, emailSubject string) error {
	n, left, err := s.limiter.Count(ctx, failedAttemptsName(emailSubject))
	if err != nil {
		return err
	}
	if n >= int64(s.limits.FailedAttemptsPerHour) {
		return limited(left, "too many wrong codes; try again later")
	}
	return nil
}

// reserveFailedAttempt counts a code about to be compared as a failed
// attempt of the email, and refuses it when that goes over the cap. The
// check and the count are one atomic step (INCR, then compare the count it
// returns), so of any number of concurrent confirms for one email, over
// any number of its challenges, at most the cap are let through to a
// comparison; one over the cap gives its count back. The caller gives
// back, with releaseFailedAttempt, the count of a code it does not compare
// or that turns out right; a new challenge does not reset the count.
func (s *Service) reserveFailedAttempt(ctx context.Context, emailSubject string) error {
	n, left, err := s.limiter.Hit(ctx, failedAttemptsName(emailSubject), failedAttemptsWindow)
	if err != nil {
		return err
	}
	if n > int64(s.limits.FailedAttemptsPerHour) {
		s.releaseFailedAttempt(ctx, emailSubject)
		return limited(left, "too many wrong codes; try again later")
	}
	return nil
}

// releaseFailedAttempt gives back a count of reserveFailedAttempt, even
// when the caller has gone. It is best effort: a count it fails to give
// back makes the cap stricter, never looser, and expires with its hour.
func (s *Service) releaseFailedAttempt(ctx context.Context, emailSubject string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachedTimeout)
	defer cancel()
	_ = s.limiter.Unhit(ctx, failedAttemptsName(emailSubject))
}

// limited is RATE_LIMITED, retryable after left (at least a second).
func limited(left time.Duration, msg string) error {
	return apierror.Limited(max(left, time.Second), "%s", msg)
}
