package gatewaytest

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"google.golang.org/protobuf/types/known/timestamppb"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/gateway/internal/authsessionclient"
	"galaxy/gateway/internal/gateway"
	"galaxy/gateway/internal/redisstore"
	"galaxy/gateway/internal/tokenverify"
	"galaxy/platform/apierror"
	"galaxy/platform/sessionkey"
)

// Timeouts of the Stack's adapters.
const (
	AuthTimeout  = 2 * time.Second
	RedisTimeout = 500 * time.Millisecond
)

// Stack is a domain service wired to a real verifier, a Redis store over an
// in-memory Redis and a client of a fake authsession whose answers work on
// the same Redis (stackAuth).
type Stack struct {
	Key     Key
	Redis   *miniredis.Miniredis
	Auth    *AuthSession
	Service *gateway.Service
}

// StackOption customises a Stack.
type StackOption func(*stackConfig)

type stackConfig struct {
	authAddr     string
	redisAddr    string
	authTimeout  time.Duration
	redisTimeout time.Duration
	service      []gateway.Option
}

// WithTimeouts sets the call deadlines of the stack's authsession client and
// Redis store (AuthTimeout and RedisTimeout by default).
func WithTimeouts(auth, redis time.Duration) StackOption {
	return func(c *stackConfig) { c.authTimeout, c.redisTimeout = auth, redis }
}

// WithReadyTimeout bounds the stack's readiness checks by d.
func WithReadyTimeout(d time.Duration) StackOption {
	return func(c *stackConfig) { c.service = append(c.service, gateway.WithReadyTimeout(d)) }
}

// WithAuthAddr points the stack's authsession client at addr instead of the fake.
func WithAuthAddr(addr string) StackOption { return func(c *stackConfig) { c.authAddr = addr } }

// WithRedisAddr points the stack's Redis store at addr instead of miniredis.
func WithRedisAddr(addr string) StackOption { return func(c *stackConfig) { c.redisAddr = addr } }

// WithLoginLimiter limits the stack's login calls with l.
func WithLoginLimiter(l gateway.Limiter) StackOption {
	return func(c *stackConfig) { c.service = append(c.service, gateway.WithLoginLimiter(l)) }
}

// NewStack builds a Stack. The fake authsession may be configured until the
// first call.
func NewStack(tb testing.TB, opts ...StackOption) *Stack {
	tb.Helper()
	s := &Stack{Key: NewKey(tb, "key-1"), Redis: Redis(tb), Auth: NewAuthSession()}
	a := &stackAuth{redis: s.Redis, refreshTokens: map[string]*authsessionv1.Session{RefreshToken: defaultSession()}}
	s.Auth.OnRefresh(a.rotate)
	s.Auth.OnRevoke(a.revokeInRedis)
	s.Auth.OnList(a.listFromRedis)
	cfg := stackConfig{authAddr: s.Auth.Serve(tb), redisAddr: s.Redis.Addr(), authTimeout: AuthTimeout, redisTimeout: RedisTimeout}
	for _, opt := range opts {
		opt(&cfg)
	}
	verifier, err := tokenverify.NewVerifier(KeySet(tb, s.Key), Issuer, Audience)
	if err != nil {
		tb.Fatalf("verifier: %v", err)
	}
	store, err := redisstore.New(redisstore.Config{URL: "redis://" + cfg.redisAddr + "/0", KeyPrefix: Prefix, Timeout: cfg.redisTimeout})
	if err != nil {
		tb.Fatalf("redis store: %v", err)
	}
	tb.Cleanup(func() { store.Close() })
	client, err := authsessionclient.New(cfg.authAddr, cfg.authTimeout)
	if err != nil {
		tb.Fatalf("authsession client: %v", err)
	}
	tb.Cleanup(func() { client.Close() })
	s.Service, err = gateway.NewService(verifier, store, client, cfg.service...)
	if err != nil {
		tb.Fatalf("service: %v", err)
	}
	return s
}

// Login stores a live session for user and returns a valid token for it.
func (s *Stack) Login(tb testing.TB, sessionID, user string) string {
	tb.Helper()
	PutSession(tb, s.Redis, ActiveSession(sessionID, user))
	return s.Key.Sign(tb, AccessClaims(user, sessionID, time.Now()))
}

// stackAuth are the answers a Stack sets on its fake authsession, for the
// tests of whole calls through the gateway that rely on them:
//   - RefreshSession rotates the refresh tokens it knows (RefreshToken at
//     first): the answer holds a new one and the old one becomes
//     INVALID_REFRESH_TOKEN, as does any unknown token;
//   - RevokeSession and ListSessions work on the session records of redis
//     (contracts/redis.md, prefix Prefix): a revocation deletes the record's
//     key; someone else's or an unknown session is SESSION_NOT_FOUND.
type stackAuth struct {
	mu            sync.Mutex                        // guards refreshTokens and issued
	redis         *miniredis.Miniredis              // set once, at NewStack
	refreshTokens map[string]*authsessionv1.Session // live refresh token → its session
	issued        int                               // refresh tokens minted
}

// rotate is the Stack's RefreshSession.
func (f *stackAuth) rotate(_ context.Context, req *authsessionv1.RefreshSessionRequest) (*authsessionv1.RefreshSessionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sess, ok := f.refreshTokens[req.GetRefreshToken()]
	if !ok {
		return nil, Fail(apierror.InvalidRefreshToken, "invalid refresh token", nil)
	}
	delete(f.refreshTokens, req.GetRefreshToken())
	f.issued++
	next := RefreshToken + "-" + strconv.Itoa(f.issued)
	f.refreshTokens[next] = sess
	return &authsessionv1.RefreshSessionResponse{
		Session: sess, Tokens: tokens("access-token-"+strconv.Itoa(f.issued), next),
	}, nil
}

// revokeInRedis is the Stack's RevokeSession.
func (f *stackAuth) revokeInRedis(_ context.Context, req *authsessionv1.RevokeSessionRequest) (*authsessionv1.RevokeSessionResponse, error) {
	mr := f.redis
	notFound := Fail(apierror.SessionNotFound, "no such session", nil)
	if req.GetSessionId() == "" {
		return nil, notFound
	}
	key := sessionkey.For(Prefix, req.GetSessionId())
	if !mr.Exists(key) || mr.HGet(key, "user_id") != req.GetUserId() {
		return nil, notFound
	}
	mr.Del(key)
	return &authsessionv1.RevokeSessionResponse{}, nil
}

// listFromRedis is the Stack's ListSessions: the user's active records,
// newest first.
func (f *stackAuth) listFromRedis(_ context.Context, req *authsessionv1.ListSessionsRequest) (*authsessionv1.ListSessionsResponse, error) {
	mr := f.redis
	resp := &authsessionv1.ListSessionsResponse{}
	unix := func(key, field string) *timestamppb.Timestamp {
		n, _ := strconv.ParseInt(mr.HGet(key, field), 10, 64)
		return timestamppb.New(time.Unix(n, 0))
	}
	for _, key := range mr.Keys() {
		if !strings.HasPrefix(key, sessionkey.For(Prefix, "")) ||
			mr.HGet(key, "user_id") != req.GetUserId() || mr.HGet(key, "status") != gateway.StatusActive {
			continue
		}
		resp.Sessions = append(resp.Sessions, &authsessionv1.Session{
			SessionId: mr.HGet(key, "session_id"), UserId: req.GetUserId(), Email: mr.HGet(key, "email"),
			CreatedAt: unix(key, "created_at"), ExpiresAt: unix(key, "expires_at"),
		})
	}
	slices.SortFunc(resp.Sessions, func(a, b *authsessionv1.Session) int {
		return cmp.Or(b.GetCreatedAt().AsTime().Compare(a.GetCreatedAt().AsTime()), strings.Compare(a.GetSessionId(), b.GetSessionId()))
	})
	return resp, nil
}
