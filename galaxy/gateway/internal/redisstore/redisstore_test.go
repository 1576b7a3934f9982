package redisstore_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"galaxy/gateway/internal/gateway"
	"galaxy/gateway/internal/gatewaytest"
	"galaxy/gateway/internal/redisstore"
	"galaxy/platform/apierror"
	"galaxy/platform/sessionkey"
)

const timeout = 300 * time.Millisecond

func newStore(t *testing.T, addr string) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(redisstore.Config{URL: "redis://" + addr + "/0", KeyPrefix: gatewaytest.Prefix, Timeout: timeout})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSession(t *testing.T) {
	t.Parallel()
	mr := gatewaytest.Redis(t)
	store := newStore(t, mr.Addr())
	live := gatewaytest.ActiveSession("sess-live", "user-1")
	gatewaytest.PutSession(t, mr, live)
	revoked := gatewaytest.ActiveSession("sess-revoked", "user-1")
	revoked.Status = "revoked"
	gatewaytest.PutSession(t, mr, revoked)
	mr.HSet(sessionkey.For(gatewaytest.Prefix, "sess-corrupt"), "user_id", "user-1", "status", "active", "expires_at", "soon")
	mr.Set(sessionkey.For(gatewaytest.Prefix, "sess-string"), "not a hash")

	tests := []struct {
		name      string
		id        string
		want      gateway.Session
		wantFound bool
		wantCode  apierror.Code
	}{
		{"live", "sess-live", live, true, ""},
		{"revoked is returned as stored", "sess-revoked", revoked, true, ""},
		{"missing key", "sess-missing", gateway.Session{}, false, ""},
		{"unreadable expiry", "sess-corrupt", gateway.Session{}, false, ""},
		{"wrong key type", "sess-string", gateway.Session{}, false, apierror.DependencyUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, found, err := store.Session(t.Context(), tt.id)
			if tt.wantCode != "" {
				if !apierror.Is(err, tt.wantCode) {
					t.Fatalf("Session(%q) error = %v, want %s", tt.id, err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("Session(%q) error = %v", tt.id, err)
			}
			if found != tt.wantFound {
				t.Errorf("Session(%q) found = %v, want %v", tt.id, found, tt.wantFound)
			}
			want := tt.want
			want.CreatedAt, want.ExpiresAt = want.CreatedAt.Truncate(time.Second), want.ExpiresAt.Truncate(time.Second)
			if !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
				t.Errorf("Session(%q) times = %v, %v; want %v, %v", tt.id, got.CreatedAt, got.ExpiresAt, want.CreatedAt, want.ExpiresAt)
			}
			got.CreatedAt, got.ExpiresAt, want.CreatedAt, want.ExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if got != want {
				t.Errorf("Session(%q) = %+v, want %+v", tt.id, got, want)
			}
		})
	}
}

func TestKeyPrefix(t *testing.T) {
	t.Parallel()
	mr := gatewaytest.Redis(t)
	store, err := redisstore.New(redisstore.Config{URL: "redis://" + mr.Addr(), KeyPrefix: "other:", Timeout: timeout})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer store.Close()
	gatewaytest.PutSession(t, mr, gatewaytest.ActiveSession("s", "u")) // under "galaxy:"
	if _, found, err := store.Session(t.Context(), "s"); err != nil || found {
		t.Errorf("Session() = found %v, error %v; want a miss under another prefix", found, err)
	}
	mr.HSet("other:session:s", "user_id", "u", "status", "active", "expires_at", "4102444800")
	if _, found, err := store.Session(t.Context(), "s"); err != nil || !found {
		t.Errorf("Session() = found %v, error %v; want a hit under its prefix", found, err)
	}
}

// TestUnavailable checks that a dead or silent Redis is a DEPENDENCY_UNAVAILABLE
// error within the timeout, never a hang.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		store func(t *testing.T) *redisstore.Store
	}{
		{"nothing listening", func(t *testing.T) *redisstore.Store { return newStore(t, gatewaytest.DeadAddr(t)) }},
		{"server stopped after connecting", func(t *testing.T) *redisstore.Store {
			mr := gatewaytest.Redis(t)
			store := newStore(t, mr.Addr())
			if err := store.Ping(t.Context()); err != nil {
				t.Fatalf("Ping() before stopping: %v", err)
			}
			mr.Close()
			return store
		}},
		{"server never answers", func(t *testing.T) *redisstore.Store { return newStore(t, gatewaytest.SilentAddr(t)) }},
		{"server resets connections", func(t *testing.T) *redisstore.Store { return newStore(t, gatewaytest.ResettingAddr(t)) }},
		{"server answers errors", func(t *testing.T) *redisstore.Store {
			mr := gatewaytest.Redis(t)
			mr.SetError("LOADING Redis is loading the dataset in memory")
			return newStore(t, mr.Addr())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := tt.store(t)
			for op, call := range map[string]func() error{
				"Session": func() error { _, _, err := store.Session(t.Context(), "s"); return err },
				"Ping":    func() error { return store.Ping(t.Context()) },
			} {
				start := time.Now()
				err := call()
				elapsed := time.Since(start)
				if e := apierror.As(err); e.Code != apierror.DependencyUnavailable || e.Metadata["dependency"] != "redis" {
					t.Errorf("%s() error = %v, want DEPENDENCY_UNAVAILABLE dependency=redis", op, err)
				}
				if elapsed > timeout+time.Second {
					t.Errorf("%s() took %v, want at most the %v timeout", op, elapsed, timeout)
				}
			}
		})
	}
}

// TestRecoversAfterRestart checks that once a Redis that went away is back
// on its address, with its data or without, the very first calls succeed:
// the connections the restart broke are noticed and dropped before use,
// not handed to a call.
func TestRecoversAfterRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		keepData  bool
		wantFound bool
	}{
		{"restarted with its data", true, true},
		{"restarted empty", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mr := gatewaytest.Redis(t)
			gatewaytest.PutSession(t, mr, gatewaytest.ActiveSession("sess-1", "user-1"))
			store := newStore(t, mr.Addr())
			// Fill the pool with several connections, all idle afterwards.
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					if _, _, err := store.Session(t.Context(), "sess-1"); err != nil {
						t.Errorf("Session() before the restart: %v", err)
					}
				})
			}
			wg.Wait()

			mr.Close()
			if err := store.Ping(t.Context()); !apierror.Is(err, apierror.DependencyUnavailable) {
				t.Errorf("Ping() while Redis is down = %v, want DEPENDENCY_UNAVAILABLE", err)
			}
			if !tt.keepData {
				mr.FlushAll()
			}
			if err := mr.Restart(); err != nil {
				t.Fatalf("restart Redis: %v", err)
			}
			for i := range 8 {
				_, found, err := store.Session(t.Context(), "sess-1")
				if err != nil || found != tt.wantFound {
					t.Errorf("Session() call %d after the restart = found %v, error %v; want found %v, no error", i+1, found, err, tt.wantFound)
				}
			}
		})
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	if err := newStore(t, gatewaytest.Redis(t).Addr()).Ping(t.Context()); err != nil {
		t.Errorf("Ping() error = %v", err)
	}
}

// TestNoClientSetInfo checks the connection handshake sends no CLIENT command
// (CLIENT SETINFO and friends), which minimal Redis servers reject.
func TestNoClientSetInfo(t *testing.T) {
	t.Parallel()
	rec := &commandRecorder{}
	store := newStore(t, rec.serve(t))
	if err := store.Ping(t.Context()); err != nil {
		t.Fatalf("Ping() error = %v", err)
	}
	for _, cmd := range rec.commands() {
		if strings.EqualFold(cmd[0], "CLIENT") {
			t.Errorf("sent %q, want no CLIENT command", cmd)
		}
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"", "http://localhost:6379", "redis://host:6379/notadb"} {
		if _, err := redisstore.New(redisstore.Config{URL: url, Timeout: timeout}); err == nil {
			t.Errorf("New(%q) error = nil, want an error", url)
		}
	}
	if _, err := redisstore.New(redisstore.Config{URL: "redis://localhost:6379"}); err == nil {
		t.Errorf("New() without a timeout: error = nil, want an error")
	}
}

// commandRecorder is a minimal RESP2 server that records every command: it
// refuses HELLO (as Redis before 6 does), answers PING and accepts the rest.
type commandRecorder struct {
	mu   sync.Mutex
	cmds [][]string
}

func (r *commandRecorder) commands() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]string(nil), r.cmds...)
}

func (r *commandRecorder) serve(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.handle(c)
		}
	}()
	return ln.Addr().String()
}

func (r *commandRecorder) handle(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		cmd, err := readCommand(br)
		if err != nil {
			return
		}
		r.mu.Lock()
		r.cmds = append(r.cmds, cmd)
		r.mu.Unlock()
		reply := "+OK\r\n"
		switch strings.ToUpper(cmd[0]) {
		case "HELLO":
			reply = "-ERR unknown command 'HELLO'\r\n"
		case "PING":
			reply = "+PONG\r\n"
		}
		if _, err := c.Write([]byte(reply)); err != nil {
			return
		}
	}
}

// readCommand reads one RESP array of bulk strings.
func readCommand(br *bufio.Reader) ([]string, error) {
	var n int
	if _, err := fmt.Fscanf(br, "*%d\r\n", &n); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, errors.New("empty command")
	}
	cmd := make([]string, n)
	for i := range cmd {
		var size int
		if _, err := fmt.Fscanf(br, "$%d\r\n", &size); err != nil {
			return nil, err
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, err
		}
		cmd[i] = string(buf[:size])
	}
	return cmd, nil
}
