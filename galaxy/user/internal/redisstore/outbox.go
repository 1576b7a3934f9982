package redisstore

import (
	"context"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"galaxy/user/internal/users"
)

// DueRevocations implements users.Store.
func (s *Store) DueRevocations(ctx context.Context, now time.Time, limit int) ([]string, time.Time, error) {
	key, at := s.RevocationsKey(), strconv.FormatInt(now.UnixMilli(), 10)
	var due *redis.StringSliceCmd
	var next *redis.ZSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		due = p.ZRangeByScore(ctx, key, &redis.ZRangeBy{Min: "-inf", Max: at, Count: int64(limit)})
		next = p.ZRangeByScoreWithScores(ctx, key, &redis.ZRangeBy{Min: "(" + at, Max: "+inf", Count: 1})
		return nil
	})
	if err != nil {
		return nil, time.Time{}, storeError(err)
	}
	var nextAt time.Time
	if z := next.Val(); len(z) == 1 && !math.IsInf(z[0].Score, 0) {
		nextAt = time.UnixMilli(int64(z[0].Score))
	}
	return due.Val(), nextAt, nil
}

// ClaimRevocation implements users.Store: SET NX takes the claim, which
// expires by itself should its holder stop, and the outbox entry is made
// due when the claim lapses, so that no deliverer finds it due meanwhile.
// An entry no longer due when claimed (a deliverer that read it due
// before another's attempt settled and moved it on) is left to its time:
// a failed attempt's retry waits its delay, whoever looked first.
func (s *Store) ClaimRevocation(ctx context.Context, id string, now time.Time, claim time.Duration) (users.User, bool, error) {
	claimKey := s.ClaimKey(id)
	ok, err := s.rdb.SetNX(ctx, claimKey, now.UnixMilli(), claim).Result()
	if err != nil || !ok {
		return users.User{}, false, storeError(err)
	}
	due, err := s.rdb.ZScore(ctx, s.RevocationsKey(), id).Result()
	switch {
	case err == nil && due > float64(now.UnixMilli()):
		return users.User{}, false, storeError(s.rdb.Del(ctx, claimKey).Err())
	case err != nil && !errors.Is(err, redis.Nil): // a store failure: the claim goes back (not in the outbox: the check below)
		s.rdb.Del(ctx, claimKey)
		return users.User{}, false, storeError(err)
	}
	u, err := s.readUser(ctx, s.rdb, id)
	if errors.Is(err, users.ErrNotFound) || (err == nil && u.Revocation.Pending == 0) {
		// Nothing to deliver: a stale outbox entry.
		_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.ZRem(ctx, s.RevocationsKey(), id)
			p.Del(ctx, claimKey)
			return nil
		})
		return users.User{}, false, storeError(err)
	}
	if err == nil {
		until := float64(now.Add(claim).UnixMilli())
		err = s.rdb.ZAddXX(ctx, s.RevocationsKey(), redis.Z{Score: until, Member: id}).Err()
	}
	if err != nil {
		return users.User{}, false, storeError(err)
	}
	return u, true, nil
}

// AckRevocation implements users.Store.
func (s *Store) AckRevocation(ctx context.Context, id string, generation int64, at time.Time, revoked int) error {
	key := s.UserKey(id)
	return s.settle(ctx, id, generation, func(p redis.Pipeliner) {
		p.HSet(ctx, key, fieldDone, generation, fieldDoneAt, at.UnixMilli(), fieldRevoked, revoked)
		p.HDel(ctx, key, pendingFields...)
		p.ZRem(ctx, s.RevocationsKey(), id)
	})
}

// FailRevocation implements users.Store.
func (s *Store) FailRevocation(ctx context.Context, id string, generation int64, attempts int, cause string, next time.Time) error {
	key := s.UserKey(id)
	return s.settle(ctx, id, generation, func(p redis.Pipeliner) {
		p.HSet(ctx, key, fieldAttempts, attempts, fieldError, cause, fieldNextAt, next.UnixMilli())
		p.ZAddXX(ctx, s.RevocationsKey(), redis.Z{Score: float64(next.UnixMilli()), Member: id})
	})
}

// settle queues writes, the outcome of a delivery of generation's
// revocation, in one transaction with the release of the claim, provided
// that revocation is still the pending one; otherwise it only releases
// the claim.
func (s *Store) settle(ctx context.Context, id string, generation int64, writes func(redis.Pipeliner)) error {
	key := s.UserKey(id)
	return s.watch(ctx, func(tx *redis.Tx) error {
		u, err := s.readUser(ctx, tx, id)
		if err != nil && !errors.Is(err, users.ErrNotFound) {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if u.Revocation.Pending == generation && generation != 0 {
				writes(p)
			}
			p.Del(ctx, s.ClaimKey(id))
			return nil
		})
		return err
	}, key)
}

// ReleaseRevocation implements users.Store.
func (s *Store) ReleaseRevocation(ctx context.Context, id string) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAddXX(ctx, s.RevocationsKey(), redis.Z{Score: 0, Member: id})
		p.Del(ctx, s.ClaimKey(id))
		return nil
	})
	return storeError(err)
}
