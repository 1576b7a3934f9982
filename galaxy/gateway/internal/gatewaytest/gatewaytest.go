// Package gatewaytest holds the test fixtures of the gateway's packages: key
// sets and signed tokens, a fake authsession served on loopback, session
// records in an in-memory Redis, and a whole domain service wired to them.
package gatewaytest

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/gateway/internal/authsessionclient"
	"galaxy/gateway/internal/gateway"
	"galaxy/gateway/internal/redisstore"
	"galaxy/gateway/internal/tokenverify"
	"galaxy/platform/apierror"
	"galaxy/platform/sessionkey"
)

// Token defaults, matching the services' defaults.
const (
	Issuer   = "galaxy-authsession"
	Audience = "galaxy-gateway"
	Prefix   = "galaxy:"
)

// Key is an Ed25519 signing key and its kid.
type Key struct {
	ID      string
	Private ed25519.PrivateKey
	Public  ed25519.PublicKey
}

// NewKey generates a key named kid.
func NewKey(tb testing.TB, kid string) Key {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatalf("generate key: %v", err)
	}
	return Key{ID: kid, Private: priv, Public: pub}
}

// JWK is the public JSON Web Key of k.
func (k Key) JWK() map[string]string {
	return map[string]string{
		"kty": "OKP", "crv": "Ed25519", "kid": k.ID, "alg": "EdDSA", "use": "sig",
		"x": base64.RawURLEncoding.EncodeToString(k.Public),
	}
}

// JWKS is the public key set of keys.
func JWKS(tb testing.TB, keys ...Key) []byte {
	tb.Helper()
	set := struct {
		Keys []map[string]string `json:"keys"`
	}{Keys: []map[string]string{}}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.JWK())
	}
	data, err := json.Marshal(set)
	if err != nil {
		tb.Fatalf("encode jwks: %v", err)
	}
	return data
}

// WriteFile writes data to a new file in a test directory and returns its path.
func WriteFile(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatalf("write %s: %v", name, err)
	}
	return path
}

// KeySet parses the key set of keys.
func KeySet(tb testing.TB, keys ...Key) *tokenverify.KeySet {
	tb.Helper()
	ks, err := tokenverify.ParseJWKS(JWKS(tb, keys...))
	if err != nil {
		tb.Fatalf("parse jwks: %v", err)
	}
	return ks
}

// Claims are an access token's claims; Map renders them for signing.
type Claims struct {
	Issuer, Audience, Subject, SessionID, Type, ID string
	IssuedAt, NotBefore, ExpiresAt                 time.Time
}

// AccessClaims returns valid claims for user and session, issued at now and
// valid for 15 minutes.
func AccessClaims(user, session string, now time.Time) Claims {
	return Claims{
		Issuer: Issuer, Audience: Audience, Subject: user, SessionID: session, Type: "access", ID: "jti-1",
		IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(15 * time.Minute),
	}
}

// Map renders c as JWT claims, leaving out empty values.
func (c Claims) Map() jwt.MapClaims {
	m := jwt.MapClaims{}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("iss", c.Issuer)
	set("aud", c.Audience)
	set("sub", c.Subject)
	set("sid", c.SessionID)
	set("typ", c.Type)
	set("jti", c.ID)
	for k, t := range map[string]time.Time{"iat": c.IssuedAt, "nbf": c.NotBefore, "exp": c.ExpiresAt} {
		if !t.IsZero() {
			m[k] = t.Unix()
		}
	}
	return m
}

// Sign returns c signed by k as authsession would sign it.
func (k Key) Sign(tb testing.TB, c Claims) string {
	tb.Helper()
	return k.SignMap(tb, c.Map())
}

// SignMap returns the claims m, whatever they hold, signed by k.
func (k Key) SignMap(tb testing.TB, m jwt.MapClaims) string {
	tb.Helper()
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, m)
	t.Header["kid"] = k.ID
	s, err := t.SignedString(k.Private)
	if err != nil {
		tb.Fatalf("sign token: %v", err)
	}
	return s
}

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

// StartFunc answers StartEmailLogin.
type StartFunc func(context.Context, *authsessionv1.StartEmailLoginRequest) (*authsessionv1.StartEmailLoginResponse, error)

// ConfirmFunc answers ConfirmEmailLogin.
type ConfirmFunc func(context.Context, *authsessionv1.ConfirmEmailLoginRequest) (*authsessionv1.ConfirmEmailLoginResponse, error)

// RefreshFunc answers RefreshSession.
type RefreshFunc func(context.Context, *authsessionv1.RefreshSessionRequest) (*authsessionv1.RefreshSessionResponse, error)

// RevokeFunc answers RevokeSession.
type RevokeFunc func(context.Context, *authsessionv1.RevokeSessionRequest) (*authsessionv1.RevokeSessionResponse, error)

// ListFunc answers ListSessions.
type ListFunc func(context.Context, *authsessionv1.ListSessionsRequest) (*authsessionv1.ListSessionsResponse, error)

// AuthSession is a fake Auth/Session Service. By default its calls behave as
// a tiny authsession would:
//   - StartEmailLogin and ConfirmEmailLogin succeed with fixed answers (the
//     login of session "sess-1" of user "user-1", refresh token
//     RefreshToken);
//   - RefreshSession rotates the refresh tokens it knows (RefreshToken at
//     first): the answer holds a new one and the old one becomes
//     INVALID_REFRESH_TOKEN, as does any unknown token;
//   - RevokeSession and ListSessions work on the session records of the Redis
//     given to UseRedis (none without one): a revocation deletes the record's
//     key; someone else's or an unknown session is SESSION_NOT_FOUND.
//
// The On* methods replace one answer, FailWith and Hang every one. It records
// the last client_id, the methods called and the traceparent metadata of
// each call.
type AuthSession struct {
	authsessionv1.UnimplementedAuthSessionServiceServer

	// Health is its grpc.health.v1 service, SERVING by default.
	Health *health.Server

	mu            sync.Mutex
	answers       answers
	clientID      string
	calls         []string
	traceparents  []string // of each call, as received ("" for none)
	redis         *miniredis.Miniredis
	refreshTokens map[string]*authsessionv1.Session // live refresh token → its session
	issued        int                               // refresh tokens minted
}

// answers are the functions answering each call.
type answers struct {
	start   StartFunc
	confirm ConfirmFunc
	refresh RefreshFunc
	revoke  RevokeFunc
	list    ListFunc
}

// RefreshToken is the refresh token of the fake's default login.
const RefreshToken = "refresh-token"

// Times of the fake's default answers.
var (
	ChallengeExpiry = time.Date(2030, 1, 1, 0, 10, 0, 0, time.UTC)
	AccessExpiry    = time.Date(2030, 1, 1, 0, 15, 0, 0, time.UTC)
	RefreshExpiry   = time.Date(2030, 1, 31, 0, 0, 0, 0, time.UTC)
)

// NewAuthSession returns a fake with the default behaviour.
func NewAuthSession() *AuthSession {
	f := &AuthSession{Health: health.NewServer()}
	f.answers.start = func(context.Context, *authsessionv1.StartEmailLoginRequest) (*authsessionv1.StartEmailLoginResponse, error) {
		return &authsessionv1.StartEmailLoginResponse{ChallengeId: "ch-1", ExpiresAt: timestamppb.New(ChallengeExpiry)}, nil
	}
	f.answers.confirm = func(context.Context, *authsessionv1.ConfirmEmailLoginRequest) (*authsessionv1.ConfirmEmailLoginResponse, error) {
		return &authsessionv1.ConfirmEmailLoginResponse{Session: defaultSession(), Tokens: tokens("access-token", RefreshToken)}, nil
	}
	f.refreshTokens = map[string]*authsessionv1.Session{RefreshToken: defaultSession()}
	f.answers.refresh = f.rotate
	f.answers.revoke = f.revokeInRedis
	f.answers.list = f.listFromRedis
	return f
}

func defaultSession() *authsessionv1.Session {
	return &authsessionv1.Session{SessionId: "sess-1", UserId: "user-1", Email: "user-1@example.com"}
}

func tokens(access, refresh string) *authsessionv1.TokenPair {
	return &authsessionv1.TokenPair{
		AccessToken: access, AccessTokenExpiresAt: timestamppb.New(AccessExpiry),
		RefreshToken: refresh, RefreshTokenExpiresAt: timestamppb.New(RefreshExpiry),
	}
}

// UseRedis makes RevokeSession and ListSessions work on the session records
// of mr (contracts/redis.md, prefix Prefix).
func (f *AuthSession) UseRedis(mr *miniredis.Miniredis) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.redis = mr
}

// rotate is the default RefreshSession.
func (f *AuthSession) rotate(_ context.Context, req *authsessionv1.RefreshSessionRequest) (*authsessionv1.RefreshSessionResponse, error) {
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

// revokeInRedis is the default RevokeSession.
func (f *AuthSession) revokeInRedis(_ context.Context, req *authsessionv1.RevokeSessionRequest) (*authsessionv1.RevokeSessionResponse, error) {
	f.mu.Lock()
	mr := f.redis
	f.mu.Unlock()
	notFound := Fail(apierror.SessionNotFound, "no such session", nil)
	if mr == nil || req.GetSessionId() == "" {
		return nil, notFound
	}
	key := sessionkey.For(Prefix, req.GetSessionId())
	if !mr.Exists(key) || mr.HGet(key, "user_id") != req.GetUserId() {
		return nil, notFound
	}
	mr.Del(key)
	return &authsessionv1.RevokeSessionResponse{}, nil
}

// listFromRedis is the default ListSessions: the user's active records,
// newest first.
func (f *AuthSession) listFromRedis(_ context.Context, req *authsessionv1.ListSessionsRequest) (*authsessionv1.ListSessionsResponse, error) {
	f.mu.Lock()
	mr := f.redis
	f.mu.Unlock()
	resp := &authsessionv1.ListSessionsResponse{}
	if mr == nil {
		return resp, nil
	}
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

// called records a call and returns the answer functions.
func (f *AuthSession) called(ctx context.Context, method, clientID string) answers {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, method)
	f.traceparents = append(f.traceparents, strings.Join(metadata.ValueFromIncomingContext(ctx, "traceparent"), ", "))
	if clientID != "" {
		f.clientID = clientID
	}
	return f.answers
}

// StartEmailLogin implements authsessionv1.AuthSessionServiceServer.
func (f *AuthSession) StartEmailLogin(ctx context.Context, req *authsessionv1.StartEmailLoginRequest) (*authsessionv1.StartEmailLoginResponse, error) {
	return f.called(ctx, "StartEmailLogin", req.GetClientId()).start(ctx, req)
}

// ConfirmEmailLogin implements authsessionv1.AuthSessionServiceServer.
func (f *AuthSession) ConfirmEmailLogin(ctx context.Context, req *authsessionv1.ConfirmEmailLoginRequest) (*authsessionv1.ConfirmEmailLoginResponse, error) {
	return f.called(ctx, "ConfirmEmailLogin", req.GetClientId()).confirm(ctx, req)
}

// RefreshSession implements authsessionv1.AuthSessionServiceServer.
func (f *AuthSession) RefreshSession(ctx context.Context, req *authsessionv1.RefreshSessionRequest) (*authsessionv1.RefreshSessionResponse, error) {
	return f.called(ctx, "RefreshSession", req.GetClientId()).refresh(ctx, req)
}

// RevokeSession implements authsessionv1.AuthSessionServiceServer.
func (f *AuthSession) RevokeSession(ctx context.Context, req *authsessionv1.RevokeSessionRequest) (*authsessionv1.RevokeSessionResponse, error) {
	return f.called(ctx, "RevokeSession", "").revoke(ctx, req)
}

// ListSessions implements authsessionv1.AuthSessionServiceServer.
func (f *AuthSession) ListSessions(ctx context.Context, req *authsessionv1.ListSessionsRequest) (*authsessionv1.ListSessionsResponse, error) {
	return f.called(ctx, "ListSessions", "").list(ctx, req)
}

// OnStart makes fn answer StartEmailLogin.
func (f *AuthSession) OnStart(fn StartFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers.start = fn
}

// OnConfirm makes fn answer ConfirmEmailLogin.
func (f *AuthSession) OnConfirm(fn ConfirmFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers.confirm = fn
}

// OnRefresh makes fn answer RefreshSession.
func (f *AuthSession) OnRefresh(fn RefreshFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers.refresh = fn
}

// OnRevoke makes fn answer RevokeSession.
func (f *AuthSession) OnRevoke(fn RevokeFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers.revoke = fn
}

// OnList makes fn answer ListSessions.
func (f *AuthSession) OnList(fn ListFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers.list = fn
}

// FailWith makes every call fail with err.
func (f *AuthSession) FailWith(err error) {
	f.answerAll(func(context.Context) error { return err })
}

// Hang makes every call wait until its caller gives up.
func (f *AuthSession) Hang() {
	f.answerAll(func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
}

// answerAll makes fail answer every call.
func (f *AuthSession) answerAll(fail func(context.Context) error) {
	f.OnStart(func(ctx context.Context, _ *authsessionv1.StartEmailLoginRequest) (*authsessionv1.StartEmailLoginResponse, error) {
		return nil, fail(ctx)
	})
	f.OnConfirm(func(ctx context.Context, _ *authsessionv1.ConfirmEmailLoginRequest) (*authsessionv1.ConfirmEmailLoginResponse, error) {
		return nil, fail(ctx)
	})
	f.OnRefresh(func(ctx context.Context, _ *authsessionv1.RefreshSessionRequest) (*authsessionv1.RefreshSessionResponse, error) {
		return nil, fail(ctx)
	})
	f.OnRevoke(func(ctx context.Context, _ *authsessionv1.RevokeSessionRequest) (*authsessionv1.RevokeSessionResponse, error) {
		return nil, fail(ctx)
	})
	f.OnList(func(ctx context.Context, _ *authsessionv1.ListSessionsRequest) (*authsessionv1.ListSessionsResponse, error) {
		return nil, fail(ctx)
	})
}

// ClientID is the client_id of the last call that carries one.
func (f *AuthSession) ClientID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clientID
}

// Calls lists the methods called so far, in order.
func (f *AuthSession) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Traceparents returns the traceparent metadata of each call of the
// service, in order: "" for a call without one, the values joined by ", "
// for a call with several.
func (f *AuthSession) Traceparents() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.traceparents)
}

// Serve serves f on a loopback port until the test ends and returns its address.
func (f *AuthSession) Serve(tb testing.TB) string {
	tb.Helper()
	return f.ServeAt(tb, "127.0.0.1:0")
}

// ServeAt serves f on addr until the test ends and returns its address.
func (f *AuthSession) ServeAt(tb testing.TB, addr string) string {
	tb.Helper()
	addr, _ = f.Start(tb, addr)
	return addr
}

// Start serves f on addr and returns its address and a stop function that
// ends the server at once, dropping its connections as a killed process
// would. The server also stops when the test ends.
func (f *AuthSession) Start(tb testing.TB, addr string) (string, func()) {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	authsessionv1.RegisterAuthSessionServiceServer(srv, f)
	healthpb.RegisterHealthServer(srv, f.Health)
	go srv.Serve(ln)
	tb.Cleanup(srv.Stop)
	return ln.Addr().String(), srv.Stop
}

// Fail returns an error as authsession reports one: a status with
// ErrorInfo (domain authsession.galaxy, reason code).
func Fail(code apierror.Code, message string, metadata map[string]string) error {
	return apierror.GRPCStatus(&apierror.Error{Code: code, Message: message, Metadata: metadata}, "authsession.galaxy").Err()
}

// FailLimited returns authsession's RATE_LIMITED answer: a status with
// ErrorInfo and a RetryInfo of retryAfter.
func FailLimited(retryAfter time.Duration) error {
	return apierror.GRPCStatus(apierror.Limited(retryAfter, "slow down"), "authsession.galaxy").Err()
}

// DeadAddr returns a loopback address nothing listens on.
func DeadAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Timeouts of the Stack's adapters.
const (
	AuthTimeout  = 2 * time.Second
	RedisTimeout = 500 * time.Millisecond
)

// Stack is a domain service wired to a real verifier, a Redis store over an
// in-memory Redis and a client of a fake authsession that works on the same
// Redis.
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
	s.Auth.UseRedis(s.Redis)
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

var _ authsessionv1.AuthSessionServiceServer = (*AuthSession)(nil)
