package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"galaxy/authsession/internal/auth"
	"galaxy/platform/apierror"
)

// Challenge fields (email and created_at are session fields too).
const (
	fieldEmail     = "email"
	fieldCodeHash  = "code_hash"
	fieldAttempts  = "attempts"
	fieldCreatedAt = "created_at"
	fieldClientID  = "client_id"
	// A tombstone's fields (fieldSessionID is a session field too).
	fieldConsumedAt = "consumed_at"
)

// CreateChallenge implements auth.Store.
func (s *Store) CreateChallenge(ctx context.Context, c auth.Challenge, expiresAt time.Time) error {
	key := s.ChallengeKey(c.ID)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key,
			fieldEmail, c.Email,
			fieldCodeHash, c.CodeHash,
			fieldAttempts, c.Attempts,
			fieldCreatedAt, c.CreatedAt.Unix(),
			fieldClientID, c.ClientID,
		)
		p.PExpireAt(ctx, key, expiresAt)
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Challenge implements auth.Store.
func (s *Store) Challenge(ctx context.Context, id string) (auth.Challenge, error) {
	c, err := s.readChallenge(ctx, s.rdb, id)
	return c, storeError(err)
}

// readChallenge reads challenge id through c: auth.ErrChallengeNotFound
// when it is gone.
func (s *Store) readChallenge(ctx context.Context, c redis.Cmdable, id string) (auth.Challenge, error) {
	m, err := c.HGetAll(ctx, s.ChallengeKey(id)).Result()
	if err != nil {
		return auth.Challenge{}, err
	}
	if len(m) == 0 {
		return auth.Challenge{}, auth.ErrChallengeNotFound
	}
	attempts, err1 := strconv.Atoi(m[fieldAttempts])
	created, err2 := strconv.ParseInt(m[fieldCreatedAt], 10, 64)
	var consumed int64
	var err3 error
	if m[fieldSessionID] != "" {
		consumed, err3 = strconv.ParseInt(m[fieldConsumedAt], 10, 64)
	}
	if err := errors.Join(err1, err2, err3); err != nil || m[fieldCodeHash] == "" || m[fieldEmail] == "" {
		return auth.Challenge{}, apierror.As(fmt.Errorf("redisstore: malformed challenge record %s: %v", id, err))
	}
	ch := auth.Challenge{
		ID:        id,
		Email:     m[fieldEmail],
		CodeHash:  m[fieldCodeHash],
		Attempts:  attempts,
		ClientID:  m[fieldClientID],
		CreatedAt: time.Unix(created, 0),
		SessionID: m[fieldSessionID],
	}
	if ch.SessionID != "" {
		ch.ConsumedAt = time.UnixMilli(consumed)
	}
	return ch, nil
}

// attempts reads the attempt count of challenge id through c.
func (s *Store) attempts(ctx context.Context, c redis.Cmdable, id string) (int, error) {
	v, err := c.HGet(ctx, s.ChallengeKey(id), fieldAttempts).Result()
	if errors.Is(err, redis.Nil) {
		return 0, auth.ErrChallengeNotFound
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, apierror.As(fmt.Errorf("redisstore: malformed attempts of challenge %s: %w", id, err))
	}
	return n, nil
}

// DeleteChallenge implements auth.Store.
func (s *Store) DeleteChallenge(ctx context.Context, id string) error {
	if err := s.rdb.Del(ctx, s.ChallengeKey(id)).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// ReserveAttempt implements auth.Store. It watches the challenge: of
// concurrent reservations only one commits on a given count, the others
// retry and see the count it left, so no two reservations get the same
// attempt and none gets one past maxAttempts. HINCRBY runs only while the
// watched challenge exists, so it never creates a key. A refused
// reservation writes nothing, so it cannot burn a challenge whose right
// code is still on its way to being used.
func (s *Store) ReserveAttempt(ctx context.Context, id string, maxAttempts int) (auth.Challenge, error) {
	key := s.ChallengeKey(id)
	var c auth.Challenge
	err := s.watch(ctx, func(tx *redis.Tx) error {
		var err error
		c, err = s.readChallenge(ctx, tx, id)
		if err != nil {
			return err
		}
		if c.Attempts >= maxAttempts {
			return auth.ErrChallengeNotFound
		}
		var n *redis.IntCmd
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			n = p.HIncrBy(ctx, key, fieldAttempts, 1)
			return nil
		})
		if err != nil {
			return err
		}
		c.Attempts = int(n.Val())
		return nil
	}, key)
	if err != nil {
		return auth.Challenge{}, err
	}
	return c, nil
}

// ReleaseAttempt implements auth.Store.
func (s *Store) ReleaseAttempt(ctx context.Context, id string) error {
	key := s.ChallengeKey(id)
	return s.watch(ctx, func(tx *redis.Tx) error {
		n, err := s.attempts(ctx, tx, id)
		if errors.Is(err, auth.ErrChallengeNotFound) || (err == nil && n <= 0) {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HIncrBy(ctx, key, fieldAttempts, -1)
			return nil
		})
		return err
	}, key)
}

// ConsumeChallenge implements auth.Store.
func (s *Store) ConsumeChallenge(ctx context.Context, id string, maxAttempts int) error {
	return s.consume(ctx, id, maxAttempts, time.Time{}, nil, func(redis.Pipeliner) {})
}

// ConsumeChallengeForSession implements auth.Store. It also watches the
// user's revoke-all mark: a RevokeAllSessions of the user marked before the
// transaction commits either is seen by it (the session is refused) or
// aborts it (the retry sees it).
func (s *Store) ConsumeChallengeForSession(ctx context.Context, id string, maxAttempts int, ns auth.NewSession) error {
	sess := ns.Session
	sessionKey := s.SessionKey(sess.ID)
	userKey := s.UserSessionsKey(sess.UserID)
	challengeKey := s.ChallengeKey(id)
	markKey := s.UserRevokeAllKey(sess.UserID)
	var tombstoneUntil time.Time
	if ns.RetryUntil.After(ns.ConsumedAt) {
		tombstoneUntil = ns.RetryUntil
	}
	notRevokedSince := func(tx *redis.Tx) error {
		mark, err := readMark(ctx, tx, markKey)
		if err != nil {
			return err
		}
		if mark > ns.RevokeAllMark {
			return auth.ErrRevokedMeanwhile
		}
		return nil
	}
	return s.consume(ctx, id, maxAttempts, tombstoneUntil, notRevokedSince, func(p redis.Pipeliner) {
		if !tombstoneUntil.IsZero() {
			// The tombstone keeps the code hash and the attempts counted,
			// which go on counting the codes compared against it, and
			// names the session.
			p.HSet(ctx, challengeKey,
				fieldSessionID, sess.ID,
				fieldConsumedAt, ns.ConsumedAt.UnixMilli(),
			)
			p.HDel(ctx, challengeKey, fieldClientID)
			p.PExpireAt(ctx, challengeKey, tombstoneUntil)
		}
		p.HSet(ctx, sessionKey,
			fieldSessionID, sess.ID,
			fieldUserID, sess.UserID,
			fieldEmail, sess.Email,
			fieldStatus, SessionActive,
			fieldCreatedAt, sess.CreatedAt.Unix(),
			fieldExpiresAt, sess.ExpiresAt.Unix(),
		)
		p.ExpireAt(ctx, sessionKey, sess.ExpiresAt)
		s.writeRefresh(ctx, p, sess, ns.RefreshTokenHash)
		p.SAdd(ctx, userKey, sess.ID)
		// The set lives as long as its longest-lived session: NX gives a new
		// set its expiry and GT only ever extends it, so a session that ends
		// sooner than an older one (the session lifetime was lowered) never
		// cuts the older one's id short.
		at := sess.ExpiresAt.Unix()
		p.Do(ctx, "EXPIREAT", userKey, at, "NX")
		p.Do(ctx, "EXPIREAT", userKey, at, "GT")
	}, markKey)
}

// consume deletes challenge id, or keeps it as a tombstone when
// tombstoneUntil is set (writes turns it into one), and queues writes in the
// same transaction, provided the challenge still exists, is no tombstone,
// when the transaction commits and has counted no more than maxAttempts;
// one that has counted more is burned instead, and reported as not found.
// A check that is not nil runs in the transaction too, watching keys as
// well: when it fails, nothing is written and its error is the answer.
func (s *Store) consume(ctx context.Context, id string, maxAttempts int, tombstoneUntil time.Time, check func(*redis.Tx) error, writes func(redis.Pipeliner), keys ...string) error {
	key := s.ChallengeKey(id)
	return s.watch(ctx, func(tx *redis.Tx) error {
		c, err := s.readChallenge(ctx, tx, id)
		if err != nil {
			return err
		}
		if c.SessionID != "" {
			return auth.ErrChallengeNotFound // consumed already
		}
		tooMany := c.Attempts > maxAttempts
		if check != nil && !tooMany {
			if err := check(tx); err != nil {
				return err
			}
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if tooMany || tombstoneUntil.IsZero() {
				p.Del(ctx, key)
			}
			if !tooMany {
				writes(p)
			}
			return nil
		})
		if err == nil && tooMany {
			return auth.ErrChallengeNotFound
		}
		return err
	}, append([]string{key}, keys...)...)
}
