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

// RevokeAllMark implements auth.Store.
func (s *Store) RevokeAllMark(ctx context.Context) (int64, error) {
	mark, err := readMark(ctx, s.rdb, s.RevokeAllMarkKey())
	return mark, storeError(err)
}

// MarkRevokeAll implements auth.Store: INCR raises the mark, then the
// user's mark is set to it unless a concurrent revoke-all of the user has
// already set a higher one (the user's mark never goes down). Its expiry
// is set anew each time.
func (s *Store) MarkRevokeAll(ctx context.Context, userID string, keep time.Duration) error {
	mark, err := s.rdb.Incr(ctx, s.RevokeAllMarkKey()).Result()
	if err != nil {
		return unavailable(err)
	}
	key := s.UserRevokeAllKey(userID)
	return s.watch(ctx, func(tx *redis.Tx) error {
		current, err := readMark(ctx, tx, key)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, max(mark, current), keep)
			return nil
		})
		return err
	}, key)
}

// readMark reads the counter at key through c; 0 when it is absent.
func readMark(ctx context.Context, c redis.Cmdable, key string) (int64, error) {
	v, err := c.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, apierror.As(fmt.Errorf("redisstore: malformed revoke-all mark %s: %w", key, err))
	}
	return n, nil
}
