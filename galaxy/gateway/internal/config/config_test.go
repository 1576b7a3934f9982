package config_test

import (
	"strings"
	"testing"
	"time"

	"galaxy/gateway/internal/config"
	"galaxy/platform/envconfig"
	"galaxy/platform/service"
)

// required holds the settings without defaults.
var required = map[string]string{
	"GATEWAY_AUTHSESSION_ADDR": "127.0.0.1:9090",
	"GATEWAY_REDIS_URL":        "redis://127.0.0.1:6379/0",
	"GATEWAY_JWKS_FILE":        "/etc/galaxy/jwks.json",
}

func env(overrides map[string]string) envconfig.Lookuper {
	return envconfig.Overlay(required, overrides)
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	got, err := config.Load(env(nil))
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	want := config.Config{
		HTTPAddr: ":8080", GRPCAddr: ":9080",
		AuthsessionAddr: "127.0.0.1:9090", AuthsessionTimeout: 3 * time.Second,
		RedisURL: "redis://127.0.0.1:6379/0", RedisKeyPrefix: "galaxy:", RedisTimeout: time.Second,
		JWKSFile: "/etc/galaxy/jwks.json", TokenIssuer: "galaxy-authsession", TokenAudience: "galaxy-gateway",
		LoginRatePerMinute: 60, LoginBurst: 20,
		Settings: service.Settings{
			Prefix: "GATEWAY", LogLevel: "info", ReadyTimeout: 500 * time.Millisecond, ShutdownTimeout: 10 * time.Second,
		},
	}
	if got != want {
		t.Errorf("Load() = %+v, want %+v", got, want)
	}
}

func TestEverySetting(t *testing.T) {
	t.Parallel()
	got, err := config.Load(env(map[string]string{
		"GATEWAY_HTTP_ADDR":             "127.0.0.1:0",
		"GATEWAY_GRPC_ADDR":             "[::1]:0",
		"GATEWAY_AUTHSESSION_TIMEOUT":   "250ms",
		"GATEWAY_REDIS_KEY_PREFIX":      "test:",
		"GATEWAY_REDIS_TIMEOUT":         "2s",
		"GATEWAY_READY_TIMEOUT":         "200ms",
		"GATEWAY_TOKEN_ISSUER":          "iss",
		"GATEWAY_TOKEN_AUDIENCE":        "aud",
		"GATEWAY_LOGIN_RATE_PER_MINUTE": "5",
		"GATEWAY_LOGIN_BURST":           "1",
		"GATEWAY_READY_FILE":            "/tmp/ready.json",
		"GATEWAY_SHUTDOWN_TIMEOUT":      "1m",
		"GATEWAY_LOG_LEVEL":             "debug",
	}))
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	want := config.Config{
		HTTPAddr: "127.0.0.1:0", GRPCAddr: "[::1]:0",
		AuthsessionAddr: "127.0.0.1:9090", AuthsessionTimeout: 250 * time.Millisecond,
		RedisURL: "redis://127.0.0.1:6379/0", RedisKeyPrefix: "test:", RedisTimeout: 2 * time.Second,
		JWKSFile: "/etc/galaxy/jwks.json", TokenIssuer: "iss", TokenAudience: "aud",
		LoginRatePerMinute: 5, LoginBurst: 1,
		Settings: service.Settings{
			Prefix: "GATEWAY", LogLevel: "debug", ReadyFile: "/tmp/ready.json",
			ReadyTimeout: 200 * time.Millisecond, ShutdownTimeout: time.Minute,
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
		env       map[string]string
		want      []string // each must appear in the error
		problems  int      // one line per problem
		forbidden string   // must not appear in the error
	}{
		{"required settings missing", map[string]string{
			"GATEWAY_AUTHSESSION_ADDR": envconfig.Unset, "GATEWAY_REDIS_URL": envconfig.Unset, "GATEWAY_JWKS_FILE": "",
		}, []string{"GATEWAY_AUTHSESSION_ADDR is required", "GATEWAY_REDIS_URL is required", "GATEWAY_JWKS_FILE is required"}, 3, ""},
		{"bad durations", map[string]string{
			"GATEWAY_AUTHSESSION_TIMEOUT": "soon", "GATEWAY_REDIS_TIMEOUT": "-1s", "GATEWAY_SHUTDOWN_TIMEOUT": "0s",
			"GATEWAY_READY_TIMEOUT": "0",
		}, []string{"GATEWAY_AUTHSESSION_TIMEOUT", "GATEWAY_REDIS_TIMEOUT", "GATEWAY_SHUTDOWN_TIMEOUT", "GATEWAY_READY_TIMEOUT"}, 4, ""},
		{"bad login limits", map[string]string{"GATEWAY_LOGIN_RATE_PER_MINUTE": "0", "GATEWAY_LOGIN_BURST": "many"}, []string{"GATEWAY_LOGIN_RATE_PER_MINUTE", "GATEWAY_LOGIN_BURST"}, 2, ""},
		{"negative login burst", map[string]string{"GATEWAY_LOGIN_BURST": "-3"}, []string{"GATEWAY_LOGIN_BURST", "at least 1"}, 1, ""},
		{"bad log level", map[string]string{"GATEWAY_LOG_LEVEL": "verbose"}, []string{"GATEWAY_LOG_LEVEL"}, 1, ""},
		{"bad listen address", map[string]string{"GATEWAY_HTTP_ADDR": "8080", "GATEWAY_GRPC_ADDR": "localhost"}, []string{"GATEWAY_HTTP_ADDR", "GATEWAY_GRPC_ADDR"}, 2, ""},
		{"authsession address without host", map[string]string{"GATEWAY_AUTHSESSION_ADDR": ":9090"}, []string{"GATEWAY_AUTHSESSION_ADDR", "missing host"}, 1, ""},
		{"ports out of range", map[string]string{
			"GATEWAY_HTTP_ADDR": ":99999", "GATEWAY_GRPC_ADDR": "127.0.0.1:65536", "GATEWAY_AUTHSESSION_ADDR": "authsession:-1",
		}, []string{"GATEWAY_HTTP_ADDR", "GATEWAY_GRPC_ADDR", "GATEWAY_AUTHSESSION_ADDR", "0 to 65535"}, 3, ""},
		{"port not a number", map[string]string{"GATEWAY_HTTP_ADDR": ":http", "GATEWAY_GRPC_ADDR": ":+80"}, []string{"GATEWAY_HTTP_ADDR", "GATEWAY_GRPC_ADDR"}, 2, ""},
		{"authsession address with port 0", map[string]string{"GATEWAY_AUTHSESSION_ADDR": "authsession:0"}, []string{"GATEWAY_AUTHSESSION_ADDR", "1 to 65535"}, 1, ""},
		{"not a redis URL, password kept secret", map[string]string{"GATEWAY_REDIS_URL": "http://user:hunter2@localhost:6379"}, []string{"GATEWAY_REDIS_URL"}, 1, "hunter2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(env(tt.env))
			if err == nil {
				t.Fatalf("Load() error = nil, want problems %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load() error = %q, want it to mention %q", err, w)
				}
			}
			if tt.forbidden != "" && strings.Contains(err.Error(), tt.forbidden) {
				t.Errorf("Load() error = %q leaks %q", err, tt.forbidden)
			}
			if lines := strings.Count(err.Error(), "\n") + 1; lines != tt.problems {
				t.Errorf("Load() error has %d lines, want one per problem (%d):\n%s", lines, tt.problems, err)
			}
		})
	}
}

// TestPortBounds checks that the ends of the port range are accepted: 0 (any
// free port) to listen on, 1 and 65535 to listen on and dial.
func TestPortBounds(t *testing.T) {
	t.Parallel()
	for _, addrs := range [][3]string{
		{":0", "[::]:65535", "authsession:1"},
		{"0.0.0.0:65535", ":1", "[::1]:65535"},
	} {
		got, err := config.Load(env(map[string]string{
			"GATEWAY_HTTP_ADDR": addrs[0], "GATEWAY_GRPC_ADDR": addrs[1], "GATEWAY_AUTHSESSION_ADDR": addrs[2],
		}))
		if err != nil {
			t.Errorf("Load(%q) error = %v", addrs, err)
			continue
		}
		if got.HTTPAddr != addrs[0] || got.GRPCAddr != addrs[1] || got.AuthsessionAddr != addrs[2] {
			t.Errorf("Load(%q) = %s, %s, %s", addrs, got.HTTPAddr, got.GRPCAddr, got.AuthsessionAddr)
		}
	}
}
