// Package authtest builds a complete login service for tests: the real
// domain service, Redis store and HTTP clients, wired to miniredis and to
// in-process fakes of the mail and user services.
package authtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/mailclient"
	"galaxy/authsession/internal/redisstore"
	"galaxy/authsession/internal/token"
	"galaxy/authsession/internal/userclient"
)

// Defaults of Options, equal to the service's configuration defaults.
const (
	KeyID    = "test-key-1"
	Issuer   = "galaxy-authsession"
	Audience = "galaxy-gateway"
	Prefix   = "galaxy:"
)

// Options tune an Env; zero fields take the service defaults.
type Options struct {
	CodeTTL         time.Duration
	CodeMaxAttempts int
	SessionTTL      time.Duration
	AccessTokenTTL  time.Duration
	UpstreamTimeout time.Duration
	// RetryGrace is the retry grace window (default 30s); NoRetries turns
	// retries off (a window of 0, strict single use).
	RetryGrace time.Duration
	NoRetries  bool
	Limits     auth.Limits
	Now        func() time.Time
	// WrapStore, when set, wraps the store the Service uses (Env.Store is
	// still the Redis store itself).
	WrapStore func(auth.Store) auth.Store
}

func (o *Options) defaults() {
	setDefault(&o.CodeTTL, 10*time.Minute)
	setDefault(&o.CodeMaxAttempts, 5)
	setDefault(&o.SessionTTL, 720*time.Hour)
	setDefault(&o.AccessTokenTTL, 15*time.Minute)
	setDefault(&o.UpstreamTimeout, 5*time.Second)
	setDefault(&o.RetryGrace, 30*time.Second)
	if o.NoRetries {
		o.RetryGrace = 0
	}
	setDefault(&o.Limits.ResendCooldown, 30*time.Second)
	setDefault(&o.Limits.StartsPerEmail, 5)
	setDefault(&o.Limits.StartsPerClient, 30)
	setDefault(&o.Limits.StartWindow, time.Hour)
	setDefault(&o.Limits.FailedAttemptsPerHour, 10)
}

func setDefault[T comparable](field *T, value T) {
	var zero T
	if *field == zero {
		*field = value
	}
}

// Env is a wired login service and its fakes.
type Env struct {
	Options   Options
	Redis     *miniredis.Miniredis
	Client    *redis.Client
	Store     *redisstore.Store
	Mail      *Mail
	Users     *Users
	Service   *auth.Service
	PublicKey ed25519.PublicKey
}

// New returns an Env whose resources are released when t ends.
func New(t testing.TB, opts Options) *Env {
	t.Helper()
	opts.defaults()
	mr := miniredis.RunT(t)
	rdb, err := redisstore.NewClient("redis://" + mr.Addr() + "/0")
	if err != nil {
		t.Fatalf("redis client: %v", err)
	}
	t.Cleanup(func() { rdb.Close() })
	store, err := redisstore.New(rdb, Prefix)
	if err != nil {
		t.Fatalf("store: %v", err)
	}

	mail := NewMail(t)
	users := NewUsers(t)
	mc, err := mailclient.New(mail.URL, opts.UpstreamTimeout)
	if err != nil {
		t.Fatalf("mail client: %v", err)
	}
	t.Cleanup(mc.Close)
	uc, err := userclient.New(users.URL, opts.UpstreamTimeout)
	if err != nil {
		t.Fatalf("user client: %v", err)
	}
	t.Cleanup(uc.Close)

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	issuer, err := token.NewIssuer(priv, token.IssuerOptions{KeyID: KeyID, Issuer: Issuer, Audience: Audience, TTL: opts.AccessTokenTTL})
	if err != nil {
		t.Fatalf("issuer: %v", err)
	}
	var serviceStore auth.Store = store
	if opts.WrapStore != nil {
		serviceStore = opts.WrapStore(store)
	}
	svc, err := auth.NewService(auth.Options{
		Store:           serviceStore,
		Limiter:         store,
		Mailer:          mc,
		Users:           uc,
		Tokens:          issuer,
		CodeSecret:      priv.Seed(),
		CodeTTL:         opts.CodeTTL,
		CodeMaxAttempts: opts.CodeMaxAttempts,
		SessionTTL:      opts.SessionTTL,
		RetryGrace:      opts.RetryGrace,
		Limits:          opts.Limits,
		Now:             opts.Now,
	})
	if err != nil {
		t.Fatalf("service: %v", err)
	}
	return &Env{
		Options: opts, Redis: mr, Client: rdb, Store: store,
		Mail: mail, Users: users, Service: svc, PublicKey: pub,
	}
}

// MailMessage is one request the fake mail service received.
type MailMessage struct {
	IdempotencyKey string
	ContentType    string
	Traceparent    string // every traceparent header, joined by ", "
	To             string `json:"to"`
	Template       string `json:"template"`
	Data           struct {
		Code      string `json:"code"`
		ExpiresAt string `json:"expires_at"`
	} `json:"data"`
}

// Mail is a fake mail service.
type Mail struct {
	URL string

	mu       sync.Mutex
	status   int
	delay    time.Duration
	messages []MailMessage
}

// NewMail starts a fake mail service that accepts every message (202)
// until told otherwise; it stops when t ends.
func NewMail(t testing.TB) *Mail {
	m := &Mail{status: http.StatusAccepted}
	srv := httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(srv.Close)
	m.URL = srv.URL
	return m
}

func (m *Mail) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		http.NotFound(w, r)
		return
	}
	var msg MailMessage
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	msg.IdempotencyKey = r.Header.Get("Idempotency-Key")
	msg.ContentType = r.Header.Get("Content-Type")
	msg.Traceparent = strings.Join(r.Header.Values("Traceparent"), ", ")
	m.mu.Lock()
	m.messages = append(m.messages, msg)
	status, delay := m.status, m.delay
	m.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"id": "msg-%d"}`, len(m.Messages()))
}

// Fail makes the fake answer status to every following request.
func (m *Mail) Fail(status int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status = status
}

// Delay makes the fake wait d before answering.
func (m *Mail) Delay(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delay = d
}

// Messages returns every request received so far.
func (m *Mail) Messages() []MailMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]MailMessage(nil), m.messages...)
}

// CodeFor returns the code last mailed for challengeID.
func (m *Mail) CodeFor(t testing.TB, challengeID string) string {
	t.Helper()
	msgs := m.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].IdempotencyKey == challengeID {
			return msgs[i].Data.Code
		}
	}
	t.Fatalf("no mail was sent for challenge %q (got %d messages)", challengeID, len(msgs))
	return ""
}

// Users is a fake user service: it creates an active user on first sight
// and answers lookups by id.
type Users struct {
	URL string

	mu      sync.Mutex
	byEmail map[string]auth.User
	status  int    // when not 0, answer this status with body
	body    string // raw answer body when status is set
	delay   time.Duration
	calls   int
	traces  []string // the traceparent of each call, as for MailMessage
}

// NewUsers starts a fake user service; it stops when t ends.
func NewUsers(t testing.TB) *Users {
	u := &Users{byEmail: map[string]auth.User{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/users/resolve", u.resolve)
	mux.HandleFunc("GET /v1/users/{id}", u.get)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

func (u *Users) resolve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Email string `json:"email"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil || req.Email == "" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	u.answer(w, r, func() (auth.User, int) {
		user, ok := u.byEmail[req.Email]
		if ok {
			return user, http.StatusOK
		}
		user = auth.User{ID: fmt.Sprintf("user-%d", len(u.byEmail)+1), Email: req.Email, Status: auth.UserActive}
		u.byEmail[req.Email] = user
		return user, http.StatusCreated
	})
}

func (u *Users) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	u.answer(w, r, func() (auth.User, int) {
		for _, user := range u.byEmail {
			if user.ID == id {
				return user, http.StatusOK
			}
		}
		return auth.User{}, http.StatusNotFound
	})
}

// answer counts a call, waits for the delay, if any, and writes the forced
// answer, if any, else the user (or a bare status) that lookup returns;
// lookup runs under the lock.
func (u *Users) answer(w http.ResponseWriter, r *http.Request, lookup func() (auth.User, int)) {
	u.mu.Lock()
	u.calls++
	u.traces = append(u.traces, strings.Join(r.Header.Values("Traceparent"), ", "))
	delay := u.delay
	u.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if u.status != 0 {
		w.WriteHeader(u.status)
		io.WriteString(w, u.body)
		return
	}
	user, status := lookup()
	w.WriteHeader(status)
	if user.ID != "" {
		json.NewEncoder(w).Encode(map[string]string{"id": user.ID, "email": user.Email, "status": string(user.Status)})
	}
}

// Delay makes the fake wait d before answering (the call still counts).
func (u *Users) Delay(d time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.delay = d
}

// Answer makes the fake answer status and body to every following request;
// status 0 restores normal behaviour.
func (u *Users) Answer(status int, body string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.status, u.body = status, body
}

// Put stores a user.
func (u *Users) Put(user auth.User) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.byEmail[user.Email] = user
}

// Remove forgets the user owning email.
func (u *Users) Remove(email string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.byEmail, email)
}

// Calls returns how many requests were answered.
func (u *Users) Calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

// Traceparents returns the traceparent header of each request, in order
// ("" for none).
func (u *Users) Traceparents() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.traces...)
}

// Events receives the revocation signals published on the Env's Redis.
type Events struct {
	ps *redis.PubSub
}

// SubscribeEvents subscribes to the revocation channel, {p}session-events;
// the subscription ends with t.
func (e *Env) SubscribeEvents(t testing.TB) *Events {
	t.Helper()
	ps := e.Client.Subscribe(context.Background(), e.Store.EventsChannel())
	t.Cleanup(func() { ps.Close() })
	if _, err := ps.Receive(context.Background()); err != nil { // the subscription confirmation
		t.Fatalf("subscribe to %s: %v", e.Store.EventsChannel(), err)
	}
	return &Events{ps: ps}
}

// Next returns the payload of the next signal; it fails t when none comes
// within a second.
func (ev *Events) Next(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	msg, err := ev.ps.ReceiveMessage(ctx)
	if err != nil {
		t.Fatalf("no revocation signal: %v", err)
	}
	return msg.Payload
}

// None fails t if a signal arrives within wait.
func (ev *Events) None(t testing.TB, wait time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if msg, err := ev.ps.ReceiveMessage(ctx); err == nil {
		t.Fatalf("unexpected revocation signal %s", msg.Payload)
	}
}
