package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"galaxy/platform/envconfig"
	"galaxy/platform/service"
	"galaxy/user/internal/config"
)

// required holds the settings without defaults.
var required = map[string]string{
	"USER_REDIS_URL":        "redis://127.0.0.1:6379/0",
	"USER_AUTHSESSION_ADDR": "authsession:9090",
}

func env(overrides map[string]string) envconfig.Lookuper {
	return envconfig.Overlay(required, overrides)
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	got, err := config.Load(env(nil))
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	want := config.Config{
		HTTPAddr: ":8090", AdminAddr: "127.0.0.1:8091",
		RedisURL: "redis://127.0.0.1:6379/0", RedisKeyPrefix: "galaxy-user:", RedisTimeout: time.Second,
		AuthsessionAddr: "authsession:9090", AuthsessionTimeout: 2 * time.Second,
		RevocationWait: 2 * time.Second, RetryMin: 100 * time.Millisecond, RetryMax: 10 * time.Second,
		Settings: service.Settings{
			Prefix: "USER", LogLevel: "info", ReadyTimeout: 250 * time.Millisecond, ShutdownTimeout: 10 * time.Second,
		},
	}
	if got != want {
		t.Errorf("Load() = %+v, want %+v", got, want)
	}
}

func TestEverySetting(t *testing.T) {
	t.Parallel()
	got, err := config.Load(env(map[string]string{
		"USER_HTTP_ADDR":            "fd://3",
		"USER_ADMIN_ADDR":           "[::1]:0",
		"USER_REDIS_KEY_PREFIX":     "u:",
		"USER_REDIS_TIMEOUT":        "300ms",
		"USER_AUTHSESSION_TIMEOUT":  "1s",
		"USER_REVOCATION_WAIT":      "5s",
		"USER_REVOCATION_RETRY_MIN": "1s",
		"USER_REVOCATION_RETRY_MAX": "1m",
		"USER_READY_FILE":           "/run/user/ready.json",
		"USER_READY_TIMEOUT":        "100ms",
		"USER_SHUTDOWN_TIMEOUT":     "3s",
		"USER_LOG_LEVEL":            "debug",
	}))
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	want := config.Config{
		HTTPAddr: "fd://3", AdminAddr: "[::1]:0",
		RedisURL: "redis://127.0.0.1:6379/0", RedisKeyPrefix: "u:", RedisTimeout: 300 * time.Millisecond,
		AuthsessionAddr: "authsession:9090", AuthsessionTimeout: time.Second,
		RevocationWait: 5 * time.Second, RetryMin: time.Second, RetryMax: time.Minute,
		Settings: service.Settings{
			Prefix: "USER", LogLevel: "debug", ReadyFile: "/run/user/ready.json",
			ReadyTimeout: 100 * time.Millisecond, ShutdownTimeout: 3 * time.Second,
		},
	}
	if got != want {
		t.Errorf("Load() = %+v, want %+v", got, want)
	}
}

func TestProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		overrides map[string]string
		want      []string // each problem names one, in order
	}{
		{"required unset", map[string]string{"USER_REDIS_URL": envconfig.Unset, "USER_AUTHSESSION_ADDR": envconfig.Unset},
			[]string{"USER_REDIS_URL is required", "USER_AUTHSESSION_ADDR is required"}},
		{"bad addresses", map[string]string{"USER_HTTP_ADDR": "8090", "USER_ADMIN_ADDR": "fd://1", "USER_AUTHSESSION_ADDR": ":9090"},
			[]string{"USER_HTTP_ADDR", "USER_ADMIN_ADDR", "USER_AUTHSESSION_ADDR"}},
		{"bad Redis URL", map[string]string{"USER_REDIS_URL": "http://redis:6379"}, []string{"USER_REDIS_URL"}},
		{"bad durations", map[string]string{"USER_REVOCATION_WAIT": "0s", "USER_REDIS_TIMEOUT": "soon"},
			[]string{"USER_REDIS_TIMEOUT", "USER_REVOCATION_WAIT"}},
		{"retry bounds crossed", map[string]string{"USER_REVOCATION_RETRY_MIN": "2s", "USER_REVOCATION_RETRY_MAX": "1s"},
			[]string{"USER_REVOCATION_RETRY_MAX"}},
		{"one address for both APIs", map[string]string{"USER_HTTP_ADDR": "127.0.0.1:8090", "USER_ADMIN_ADDR": "127.0.0.1:8090"},
			[]string{"USER_ADMIN_ADDR"}},
		{"bad log level", map[string]string{"USER_LOG_LEVEL": "loud"}, []string{"USER_LOG_LEVEL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(env(tc.overrides))
			var cfgErr *envconfig.Error
			if !errors.As(err, &cfgErr) || len(cfgErr.Problems) != len(tc.want) {
				t.Fatalf("Load() = %v, want %d problems naming %q", err, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(cfgErr.Problems[i].Error(), w) {
					t.Errorf("problem %d = %q, want it to name %q", i, cfgErr.Problems[i], w)
				}
			}
		})
	}
}

// TestBothAPIsMayTakeAFreePort: port 0 for both listeners is two ports.
func TestBothAPIsMayTakeAFreePort(t *testing.T) {
	t.Parallel()
	if _, err := config.Load(env(map[string]string{"USER_HTTP_ADDR": "127.0.0.1:0", "USER_ADMIN_ADDR": "127.0.0.1:0"})); err != nil {
		t.Errorf("Load() = %v, want port 0 accepted for both", err)
	}
}
