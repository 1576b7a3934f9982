package gatewaytest

import (
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"galaxy/gateway/internal/gateway"
	"galaxy/platform/sessionkey"
)

// Redis starts an in-memory Redis, closed with the test.
func Redis(tb testing.TB) *miniredis.Miniredis {
	tb.Helper()
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		tb.Fatalf("start miniredis: %v", err)
	}
	tb.Cleanup(mr.Close)
	return mr
}

// PutSession stores s as authsession would (contracts/redis.md).
func PutSession(tb testing.TB, mr *miniredis.Miniredis, s gateway.Session) {
	tb.Helper()
	key := sessionkey.For(Prefix, s.ID)
	mr.HSet(key,
		"session_id", s.ID, "user_id", s.UserID, "email", s.Email, "status", s.Status,
		"created_at", strconv.FormatInt(s.CreatedAt.Unix(), 10),
		"expires_at", strconv.FormatInt(s.ExpiresAt.Unix(), 10))
}

// ActiveSession is a live session of user, expiring in a day.
func ActiveSession(id, user string) gateway.Session {
	now := time.Now()
	return gateway.Session{
		ID: id, UserID: user, Email: user + "@example.com", Status: gateway.StatusActive,
		CreatedAt: now.Add(-time.Minute), ExpiresAt: now.Add(24 * time.Hour),
	}
}
