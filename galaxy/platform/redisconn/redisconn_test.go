package redisconn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"galaxy/platform/redisconn"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want string // "" for accepted
	}{
		{"redis://127.0.0.1:6379/0", ""},
		{"rediss://user:secret@redis.example:6380/2", ""},
		{"redis://127.0.0.1:6379/0?dial_timeout=5s", ""},
		{"http://127.0.0.1:6379", "scheme must be redis or rediss"},
		{"redis://:secret@127.0.0.1:6379/notanumber", "not a valid Redis URL"},
		{"redis://:secret@[::1/0", "not a valid URL"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			err := redisconn.CheckURL(tc.url)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckURL(%q) = %v, want nil", tc.url, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("CheckURL(%q) = %v, want %q", tc.url, err, tc.want)
			case err != nil && strings.Contains(err.Error(), "secret"):
				t.Errorf("CheckURL(%q) = %v: quotes the password", tc.url, err)
			}
			if _, oerr := redisconn.Options(tc.url, redisconn.Settings{}); (oerr == nil) != (err == nil) {
				t.Errorf("Options(%q) error = %v, CheckURL = %v: want the same verdict", tc.url, oerr, err)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	s := redisconn.Settings{
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 3 * time.Second,
		PoolTimeout: 4 * time.Second, DialerRetryTimeout: 50 * time.Millisecond,
		MaxRetries: 1, DialerRetries: 2, Protocol: 2,
	}
	type want struct {
		dial, read  time.Duration
		maxRetries  int
		protocol    int
		db          int
		dialRetries int
	}
	for _, tc := range []struct {
		name    string
		url     string
		urlWins bool
		want    want
	}{
		{"settings", "redis://127.0.0.1:6379/3", false, want{time.Second, 2 * time.Second, 1, 2, 3, 2}},
		{"settings win over the URL", "redis://127.0.0.1:6379/0?dial_timeout=9s&max_retries=5&protocol=3", false,
			want{time.Second, 2 * time.Second, 1, 2, 0, 2}},
		{"the URL wins", "redis://127.0.0.1:6379/0?dial_timeout=9s&max_retries=5&protocol=3", true,
			want{9 * time.Second, 2 * time.Second, 5, 3, 0, 2}},
		{"the URL wins where it speaks", "redis://127.0.0.1:6379/0", true, want{time.Second, 2 * time.Second, 1, 2, 0, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := s
			s.URLWins = tc.urlWins
			o, err := redisconn.Options(tc.url, s)
			if err != nil {
				t.Fatalf("Options: %v", err)
			}
			got := want{o.DialTimeout, o.ReadTimeout, o.MaxRetries, o.Protocol, o.DB, o.DialerRetries}
			if got != tc.want {
				t.Errorf("options = %+v, want %+v", got, tc.want)
			}
			if !o.DisableIdentity || !o.ContextTimeoutEnabled || o.MaintNotificationsConfig == nil {
				t.Errorf("DisableIdentity, ContextTimeoutEnabled, MaintNotificationsConfig = %v, %v, %v; want set",
					o.DisableIdentity, o.ContextTimeoutEnabled, o.MaintNotificationsConfig)
			}
		})
	}
}

func TestLogger(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	redisconn.Logger(slog.New(slog.NewJSONHandler(&out, nil))).Printf(context.Background(), "dial %s failed", "127.0.0.1:1")

	var rec map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &rec); err != nil {
		t.Fatalf("log %q is not one JSON line: %v", out.String(), err)
	}
	if rec["level"] != "WARN" || rec["component"] != "redis" || rec["msg"] != "redis client" || rec["detail"] != "dial 127.0.0.1:1 failed" {
		t.Errorf("log line = %v, want WARN component=redis msg=%q detail=%q", rec, "redis client", "dial 127.0.0.1:1 failed")
	}
}

// TestWatchRetriesAbortedTransactions: concurrent read-modify-write
// transactions on one key each commit once, none lost; a transaction
// aborted on every try gives up with redis.TxFailedErr; fn's own error is
// returned as it is.
func TestWatchRetriesAbortedTransactions(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb, err := redisconn.NewClient("redis://"+mr.Addr()+"/0", redisconn.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx := context.Background()
	increment := func(tx *redis.Tx) error {
		n, err := tx.Get(ctx, "n").Int()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "n", n+1, 0)
			return nil
		})
		return err
	}
	const writers = 8
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			if err := redisconn.Watch(ctx, rdb, increment, "n"); err != nil {
				t.Errorf("Watch: %v", err)
			}
		})
	}
	wg.Wait()
	if got, _ := mr.Get("n"); got != strconv.Itoa(writers) {
		t.Errorf("n = %s after %d increments, want %d", got, writers, writers)
	}

	tries := 0
	alwaysAborted := func(tx *redis.Tx) error {
		tries++
		mr.Set("n", "changed") // a concurrent write between WATCH and EXEC
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "n", "mine", 0)
			return nil
		})
		return err
	}
	if err := redisconn.Watch(ctx, rdb, alwaysAborted, "n"); !errors.Is(err, redis.TxFailedErr) || tries != redisconn.MaxTxRetries {
		t.Errorf("Watch of an always aborted transaction = %v after %d tries, want TxFailedErr after %d", err, tries, redisconn.MaxTxRetries)
	}
	refused := errors.New("refused")
	if err := redisconn.Watch(ctx, rdb, func(*redis.Tx) error { return refused }, "n"); err != refused {
		t.Errorf("Watch = %v, want fn's own error", err)
	}
}
