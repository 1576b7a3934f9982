package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"galaxy/authsession/internal/auth"
	"galaxy/platform/apierror"
)

// Session fields (contracts/redis.md), besides fieldEmail and fieldCreatedAt.
const (
	fieldSessionID = "session_id"
	fieldUserID    = "user_id"
	fieldStatus    = "status"
	fieldExpiresAt = "expires_at"
)

// usedMarker starts the value of a refresh token that was rotated:
// "used:{session_id}:{used_at_ms}:{successor_hash}" (an older form,
// "used:{session_id}", knows neither when nor what replaced it).
const usedMarker = "used:"

// EventSessionRevoked is the type of the revocation signal.
const EventSessionRevoked = "session.revoked"

// revocationEvent is the revocation signal published on EventsChannel.
type revocationEvent struct {
	Type      string                `json:"type"`
	SessionID string                `json:"session_id"`
	UserID    string                `json:"user_id"`
	Reason    auth.RevocationReason `json:"reason"`
}

// Session implements auth.Store.
func (s *Store) Session(ctx context.Context, id string) (auth.Session, error) {
	sess, err := s.liveSession(ctx, s.rdb, id)
	return sess, storeError(err)
}

// liveSession reads session id through c: auth.ErrSessionNotFound unless
// its record exists and is active.
func (s *Store) liveSession(ctx context.Context, c redis.Cmdable, id string) (auth.Session, error) {
	m, err := c.HGetAll(ctx, s.SessionKey(id)).Result()
	if err != nil {
		return auth.Session{}, err
	}
	return readSession(id, m)
}

// readSession decodes the record m of session id.
func readSession(id string, m map[string]string) (auth.Session, error) {
	if m[fieldStatus] != SessionActive {
		return auth.Session{}, auth.ErrSessionNotFound
	}
	created, err1 := strconv.ParseInt(m[fieldCreatedAt], 10, 64)
	expires, err2 := strconv.ParseInt(m[fieldExpiresAt], 10, 64)
	if err := errors.Join(err1, err2); err != nil || m[fieldUserID] == "" {
		return auth.Session{}, apierror.As(fmt.Errorf("redisstore: malformed session record %s: %v", id, err))
	}
	return auth.Session{
		ID:        id,
		UserID:    m[fieldUserID],
		Email:     m[fieldEmail],
		CreatedAt: time.Unix(created, 0),
		ExpiresAt: time.Unix(expires, 0),
	}, nil
}

// writeRefresh queues making hash the current refresh token of sess; both
// keys expire with the session.
func (s *Store) writeRefresh(ctx context.Context, p redis.Pipeliner, sess auth.Session, hash string) {
	setUntil(ctx, p, s.RefreshKey(hash), sess.ID, sess.ExpiresAt)
	setUntil(ctx, p, s.SessionRefreshKey(sess.ID), hash, sess.ExpiresAt)
}

// RefreshToken implements auth.Store.
func (s *Store) RefreshToken(ctx context.Context, hash string) (auth.RefreshToken, error) {
	v, err := s.rdb.Get(ctx, s.RefreshKey(hash)).Result()
	if errors.Is(err, redis.Nil) {
		return auth.RefreshToken{}, auth.ErrInvalidRefreshToken
	}
	if err != nil {
		return auth.RefreshToken{}, unavailable(err)
	}
	return parseRefresh(v), nil
}

func parseRefresh(v string) auth.RefreshToken {
	rest, used := strings.CutPrefix(v, usedMarker)
	if !used {
		return auth.RefreshToken{SessionID: v}
	}
	tok := auth.RefreshToken{Used: true}
	id, tail, _ := strings.Cut(rest, ":")
	tok.SessionID = id
	if at, successor, ok := strings.Cut(tail, ":"); ok {
		if ms, err := strconv.ParseInt(at, 10, 64); err == nil && successor != "" {
			tok.UsedAt, tok.SuccessorHash = time.UnixMilli(ms), successor
		}
	}
	return tok
}

// usedValue is the value of a refresh token rotated at r.UsedAt.
func usedValue(r auth.Rotation) string {
	return usedMarker + r.SessionID + ":" + strconv.FormatInt(r.UsedAt.UnixMilli(), 10) + ":" + r.NewHash
}

// CurrentRefreshToken implements auth.Store.
func (s *Store) CurrentRefreshToken(ctx context.Context, id string) (string, error) {
	v, err := s.rdb.Get(ctx, s.SessionRefreshKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", storeError(err)
	}
	return v, nil
}

// RotateRefreshToken implements auth.Store. It watches the presented
// token's key and the session: a concurrent rotation or revocation aborts
// the transaction, and the retry sees the token used or gone. The used
// token keeps its expiry, so a replay is recognised as long as the session
// could have lived.
func (s *Store) RotateRefreshToken(ctx context.Context, r auth.Rotation) error {
	oldKey, sessionKey := s.RefreshKey(r.OldHash), s.SessionKey(r.SessionID)
	return s.watch(ctx, func(tx *redis.Tx) error {
		v, err := tx.Get(ctx, oldKey).Result()
		if errors.Is(err, redis.Nil) {
			return auth.ErrInvalidRefreshToken
		}
		if err != nil {
			return err
		}
		switch tok := parseRefresh(v); {
		case tok.Used:
			return auth.ErrRefreshTokenReused
		case tok.SessionID != r.SessionID:
			return auth.ErrInvalidRefreshToken
		}
		sess, err := s.liveSession(ctx, tx, r.SessionID)
		if errors.Is(err, auth.ErrSessionNotFound) {
			return auth.ErrInvalidRefreshToken
		}
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, oldKey, usedValue(r), redis.KeepTTL)
			s.writeRefresh(ctx, p, sess, r.NewHash)
			return nil
		})
		return err
	}, oldKey, sessionKey)
}

// RevokeSession implements auth.Store: in one transaction it deletes the
// session record, its current refresh token and the key naming it, removes
// the session from its user's set and publishes the revocation signal, so
// the signal goes out exactly when a live session ended. Used refresh
// tokens stay until they expire: presenting one finds no session.
func (s *Store) RevokeSession(ctx context.Context, id, owner string, reason auth.RevocationReason) error {
	sessionKey, pointerKey := s.SessionKey(id), s.SessionRefreshKey(id)
	return s.watch(ctx, func(tx *redis.Tx) error {
		sess, err := s.liveSession(ctx, tx, id)
		if err != nil {
			return err
		}
		if owner != "" && sess.UserID != owner {
			return auth.ErrSessionNotFound
		}
		hash, err := tx.Get(ctx, pointerKey).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		event, err := json.Marshal(revocationEvent{Type: EventSessionRevoked, SessionID: id, UserID: sess.UserID, Reason: reason})
		if err != nil {
			return apierror.As(err)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			keys := []string{sessionKey, pointerKey}
			if hash != "" {
				keys = append(keys, s.RefreshKey(hash))
			}
			p.Del(ctx, keys...)
			p.SRem(ctx, s.UserSessionsKey(sess.UserID), id)
			p.Publish(ctx, s.EventsChannel(), event)
			return nil
		})
		return err
	}, sessionKey, pointerKey)
}

// UserSessions implements auth.Store. Ids whose record has expired are
// removed from the set; records of another user or not active are skipped.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]auth.Session, error) {
	userKey := s.UserSessionsKey(userID)
	ids, err := s.rdb.SMembers(ctx, userKey).Result()
	if err != nil || len(ids) == 0 {
		return nil, storeError(err)
	}
	records := make([]*redis.MapStringStringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			records[i] = p.HGetAll(ctx, s.SessionKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}

	var live []auth.Session
	var expired []any
	for i, id := range ids {
		m := records[i].Val()
		if len(m) == 0 {
			expired = append(expired, id)
			continue
		}
		sess, err := readSession(id, m)
		if errors.Is(err, auth.ErrSessionNotFound) || (err == nil && sess.UserID != userID) {
			continue
		}
		if err != nil {
			return nil, err
		}
		live = append(live, sess)
	}
	if len(expired) > 0 {
		if err := s.rdb.SRem(ctx, userKey, expired...).Err(); err != nil {
			return nil, unavailable(err)
		}
	}
	return live, nil
}
