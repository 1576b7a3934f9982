package auth

import (
	"context"
	"time"

	"galaxy/platform/email"
)

// StartResult is the answer to StartEmailLogin.
type StartResult struct {
	ChallengeID string
	ExpiresAt   time.Time
}

// StartEmailLogin creates a challenge for address and mails its code, once
// the abuse limits admit it. The answer does not depend on whether a user
// owns address: the user is only resolved when the code is confirmed.
func (s *Service) StartEmailLogin(ctx context.Context, address, clientID string) (StartResult, error) {
	addr, err := email.Normalize(address)
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
