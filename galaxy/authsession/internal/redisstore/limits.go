package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"galaxy/platform/apierror"
)

// Hit implements auth.Limiter with a fixed-window counter: SET NX with the
// window's expiry opens the window, INCR counts, PTTL tells what is left,
// all in one transaction, so the counter can never lose its expiry.
func (s *Store) Hit(ctx context.Context, name string, window time.Duration) (int64, time.Duration, error) {
	key := s.LimitKey(name)
	var count *redis.IntCmd
	var left *redis.DurationCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, key, 0, window)
		count = p.Incr(ctx, key)
		left = p.PTTL(ctx, key)
		return nil
	})
	if err != nil {
		return 0, 0, unavailable(err)
	}
	return count.Val(), left.Val(), nil
}

// Count implements auth.Limiter.
func (s *Store) Count(ctx context.Context, name string) (int64, time.Duration, error) {
	key := s.LimitKey(name)
	var count *redis.StringCmd
	var left *redis.DurationCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		count = p.Get(ctx, key)
		left = p.PTTL(ctx, key)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, 0, unavailable(err)
	}
	n, err := count.Int64()
	if errors.Is(err, redis.Nil) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, apierror.As(fmt.Errorf("redisstore: malformed counter %s: %w", name, err))
	}
	return n, left.Val(), nil
}

// Claim implements auth.Limiter with SET NX and the claim's expiry; PTTL in
// the same transaction tells how long a standing claim has left.
func (s *Store) Claim(ctx context.Context, name string, ttl time.Duration) (bool, time.Duration, error) {
	key := s.LimitKey(name)
	var claimed *redis.BoolCmd
	var left *redis.DurationCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		claimed = p.SetNX(ctx, key, 1, ttl)
		left = p.PTTL(ctx, key)
		return nil
	})
	if err != nil {
		return false, 0, unavailable(err)
	}
	return claimed.Val(), left.Val(), nil
}

// Release implements auth.Limiter.
func (s *Store) Release(ctx context.Context, name string) error {
	if err := s.rdb.Del(ctx, s.LimitKey(name)).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Unhit implements auth.Limiter. It watches the counter and rewrites it one
// lower with SET XX KEEPTTL, which never creates the key nor touches its
// expiry: a window that ended meanwhile aborts the transaction, and the
// retry finds nothing to take back.
func (s *Store) Unhit(ctx context.Context, name string) error {
	key := s.LimitKey(name)
	return s.watch(ctx, func(tx *redis.Tx) error {
		v, err := tx.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		if err != nil {
			return err
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return apierror.As(fmt.Errorf("redisstore: malformed counter %s: %w", name, err))
		}
		if n <= 0 {
			return nil
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.SetArgs(ctx, key, n-1, redis.SetArgs{Mode: "XX", KeepTTL: true})
			return nil
		})
		return err
	}, key)
}
