package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"galaxy/authsession/internal/config"
	"galaxy/platform/envconfig"
	"galaxy/platform/service"
)

// required holds a valid value for every required variable.
func required() map[string]string {
	return map[string]string{
		"AUTHSESSION_REDIS_URL":        "redis://127.0.0.1:6379/0",
		"AUTHSESSION_MAIL_URL":         "http://127.0.0.1:8025",
		"AUTHSESSION_USER_URL":         "http://127.0.0.1:8026/base",
		"AUTHSESSION_SIGNING_KEY_FILE": "/keys/signing.pem",
		"AUTHSESSION_SIGNING_KEY_ID":   "key-1",
	}
}

func with(m map[string]string, kv ...string) map[string]string {
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	got, err := config.Load(envconfig.Map(required()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := config.Config{
		GRPCAddr:        ":9090",
		RedisURL:        "redis://127.0.0.1:6379/0",
		RedisKeyPrefix:  "galaxy:",
		MailURL:         "http://127.0.0.1:8025",
		UserURL:         "http://127.0.0.1:8026/base",
		UpstreamTimeout: 2 * time.Second,
		SigningKeyFile:  "/keys/signing.pem",
		SigningKeyID:    "key-1",
		TokenIssuer:     "galaxy-authsession",
		TokenAudience:   "galaxy-gateway",
		AccessTokenTTL:  15 * time.Minute,
		SessionTTL:      720 * time.Hour,
		CodeTTL:         10 * time.Minute,
		CodeMaxAttempts: 5,
		RetryGrace:      30 * time.Second,
		Settings: service.Settings{
			Prefix: "AUTHSESSION", LogLevel: "info", ReadyTimeout: 250 * time.Millisecond, ShutdownTimeout: 10 * time.Second,
		},

		ResendCooldown:        30 * time.Second,
		StartLimitPerEmail:    5,
		StartLimitPerClient:   30,
		StartLimitWindow:      time.Hour,
		FailedAttemptsPerHour: 10,
	}
	if got != want {
		t.Errorf("Load() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestLoadEverySetting(t *testing.T) {
	t.Parallel()
	env := with(required(),
		"AUTHSESSION_GRPC_ADDR", "127.0.0.1:0",
		"AUTHSESSION_REDIS_KEY_PREFIX", "test:",
		"AUTHSESSION_UPSTREAM_TIMEOUT", "250ms",
		"AUTHSESSION_TOKEN_ISSUER", "iss",
		"AUTHSESSION_TOKEN_AUDIENCE", "aud",
		"AUTHSESSION_ACCESS_TOKEN_TTL", "1m",
		"AUTHSESSION_SESSION_TTL", "2h",
		"AUTHSESSION_CODE_TTL", "30s",
		"AUTHSESSION_CODE_MAX_ATTEMPTS", "1",
		"AUTHSESSION_RETRY_GRACE", "1500ms",
		"AUTHSESSION_READY_FILE", "/tmp/ready.json",
		"AUTHSESSION_READY_TIMEOUT", "100ms",
		"AUTHSESSION_SHUTDOWN_TIMEOUT", "3s",
		"AUTHSESSION_LOG_LEVEL", "debug",
		"AUTHSESSION_RESEND_COOLDOWN", "5s",
		"AUTHSESSION_START_LIMIT_PER_EMAIL", "2",
		"AUTHSESSION_START_LIMIT_PER_CLIENT", "3",
		"AUTHSESSION_START_LIMIT_WINDOW", "10m",
		"AUTHSESSION_FAILED_ATTEMPTS_PER_HOUR", "4",
	)
	got, err := config.Load(envconfig.Map(env))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"GRPCAddr", got.GRPCAddr, "127.0.0.1:0"},
		{"RedisKeyPrefix", got.RedisKeyPrefix, "test:"},
		{"UpstreamTimeout", got.UpstreamTimeout, 250 * time.Millisecond},
		{"TokenIssuer", got.TokenIssuer, "iss"},
		{"TokenAudience", got.TokenAudience, "aud"},
		{"AccessTokenTTL", got.AccessTokenTTL, time.Minute},
		{"SessionTTL", got.SessionTTL, 2 * time.Hour},
		{"CodeTTL", got.CodeTTL, 30 * time.Second},
		{"CodeMaxAttempts", got.CodeMaxAttempts, 1},
		{"RetryGrace", got.RetryGrace, 1500 * time.Millisecond},
		{"ReadyFile", got.ReadyFile, "/tmp/ready.json"},
		{"ReadyTimeout", got.ReadyTimeout, 100 * time.Millisecond},
		{"ShutdownTimeout", got.ShutdownTimeout, 3 * time.Second},
		{"LogLevel", got.LogLevel, "debug"},
		{"ResendCooldown", got.ResendCooldown, 5 * time.Second},
		{"StartLimitPerEmail", got.StartLimitPerEmail, 2},
		{"StartLimitPerClient", got.StartLimitPerClient, 3},
		{"StartLimitWindow", got.StartLimitWindow, 10 * time.Minute},
		{"FailedAttemptsPerHour", got.FailedAttemptsPerHour, 4},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want []string // one problem per entry, each naming its variable
	}{
		{
			name: "nothing set",
			env:  map[string]string{},
			want: []string{
				"AUTHSESSION_REDIS_URL is required",
				"AUTHSESSION_MAIL_URL is required",
				"AUTHSESSION_USER_URL is required",
				"AUTHSESSION_SIGNING_KEY_FILE is required",
				"AUTHSESSION_SIGNING_KEY_ID is required",
			},
		},
		{
			name: "blank required value",
			env:  with(required(), "AUTHSESSION_SIGNING_KEY_ID", "  "),
			want: []string{"AUTHSESSION_SIGNING_KEY_ID is required"},
		},
		{
			name: "bad durations",
			env: with(required(),
				"AUTHSESSION_CODE_TTL", "ten minutes",
				"AUTHSESSION_SESSION_TTL", "-1h",
				"AUTHSESSION_SHUTDOWN_TIMEOUT", "0s",
			),
			want: []string{"AUTHSESSION_SESSION_TTL", "AUTHSESSION_CODE_TTL", "AUTHSESSION_SHUTDOWN_TIMEOUT"},
		},
		{
			name: "bad attempts",
			env:  with(required(), "AUTHSESSION_CODE_MAX_ATTEMPTS", "0"),
			want: []string{"AUTHSESSION_CODE_MAX_ATTEMPTS"},
		},
		{
			name: "bad limits",
			env: with(required(),
				"AUTHSESSION_RESEND_COOLDOWN", "0s",
				"AUTHSESSION_START_LIMIT_PER_EMAIL", "0",
				"AUTHSESSION_START_LIMIT_PER_CLIENT", "-1",
				"AUTHSESSION_START_LIMIT_WINDOW", "hourly",
				"AUTHSESSION_FAILED_ATTEMPTS_PER_HOUR", "ten",
			),
			want: []string{
				"AUTHSESSION_RESEND_COOLDOWN",
				"AUTHSESSION_START_LIMIT_PER_EMAIL",
				"AUTHSESSION_START_LIMIT_PER_CLIENT",
				"AUTHSESSION_START_LIMIT_WINDOW",
				"AUTHSESSION_FAILED_ATTEMPTS_PER_HOUR",
			},
		},
		{
			name: "not a number",
			env:  with(required(), "AUTHSESSION_CODE_MAX_ATTEMPTS", "five"),
			want: []string{"AUTHSESSION_CODE_MAX_ATTEMPTS"},
		},
		{
			name: "bad URLs",
			env: with(required(),
				"AUTHSESSION_REDIS_URL", "http://127.0.0.1:6379",
				"AUTHSESSION_MAIL_URL", "127.0.0.1:8025",
				"AUTHSESSION_USER_URL", "ftp://users",
			),
			want: []string{"AUTHSESSION_REDIS_URL", "AUTHSESSION_MAIL_URL", "AUTHSESSION_USER_URL"},
		},
		{
			name: "bad gRPC address",
			env:  with(required(), "AUTHSESSION_GRPC_ADDR", "localhost"),
			want: []string{`AUTHSESSION_GRPC_ADDR="localhost": want host:port`},
		},
		{
			name: "gRPC port out of range",
			env:  with(required(), "AUTHSESSION_GRPC_ADDR", "127.0.0.1:65536"),
			want: []string{`AUTHSESSION_GRPC_ADDR="127.0.0.1:65536": want host:port; the port must be a number from 0 to 65535`},
		},
		{
			name: "retry grace not a duration",
			env:  with(required(), "AUTHSESSION_RETRY_GRACE", "thirty"),
			want: []string{`AUTHSESSION_RETRY_GRACE="thirty": time: invalid duration`},
		},
		{
			name: "negative retry grace",
			env:  with(required(), "AUTHSESSION_RETRY_GRACE", "-1s"),
			want: []string{`AUTHSESSION_RETRY_GRACE="-1s": must not be negative`},
		},
		{
			name: "retry grace over the bound",
			env:  with(required(), "AUTHSESSION_RETRY_GRACE", "5m1s"),
			want: []string{`AUTHSESSION_RETRY_GRACE="5m1s": must be at most 5m0s`},
		},
		{
			name: "bad log level",
			env:  with(required(), "AUTHSESSION_LOG_LEVEL", "verbose"),
			want: []string{"AUTHSESSION_LOG_LEVEL"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(envconfig.Map(tc.env))
			var cfgErr *envconfig.Error
			if !errors.As(err, &cfgErr) {
				t.Fatalf("Load() error = %v, want a *envconfig.Error", err)
			}
			if len(cfgErr.Problems) != len(tc.want) {
				t.Fatalf("problems = %q, want %d: %q", cfgErr.Problems, len(tc.want), tc.want)
			}
			for i, want := range tc.want {
				if got := cfgErr.Problems[i].Error(); !strings.Contains(got, want) {
					t.Errorf("problem %d = %q, want it to mention %q", i, got, want)
				}
			}
		})
	}
}

func TestLoadRetryGrace(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, value string
		want        time.Duration
	}{
		{"unset", "", 30 * time.Second},
		{"zero turns retries off", "0", 0},
		{"zero with a unit", "0s", 0},
		{"short", "1s", time.Second},
		{"the bound itself", "5m", 5 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.Load(envconfig.Map(with(required(), "AUTHSESSION_RETRY_GRACE", tc.value)))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got.RetryGrace != tc.want {
				t.Errorf("RetryGrace = %v, want %v", got.RetryGrace, tc.want)
			}
		})
	}
}

func TestLoadNeverPrintsARedisPassword(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, url string }{
		{"bad database", "redis://alice:s3cretpw@127.0.0.1:6379/notadb"},
		{"bad port", "redis://alice:s3cretpw@127.0.0.1:notaport/0"},
		{"bad escape", "redis://alice:s3cretpw%zz@127.0.0.1:6379/0"},
		{"control character", "redis://alice:s3cret\x01pw@127.0.0.1:6379/0"},
		{"bad option", "redis://:s3cretpw@127.0.0.1:6379/0?dial_timeout=soon"},
		{"bad scheme", "http://alice:s3cretpw@127.0.0.1:6379/0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(envconfig.Map(with(required(), "AUTHSESSION_REDIS_URL", tc.url)))
			var cfgErr *envconfig.Error
			if !errors.As(err, &cfgErr) || len(cfgErr.Problems) != 1 {
				t.Fatalf("Load() error = %v, want one configuration problem", err)
			}
			got := cfgErr.Problems[0].Error()
			if !strings.HasPrefix(got, "AUTHSESSION_REDIS_URL: ") {
				t.Errorf("problem %q does not name AUTHSESSION_REDIS_URL", got)
			}
			for _, secret := range []string{"s3cret", "alice", "127.0.0.1"} {
				if strings.Contains(got, secret) {
					t.Errorf("problem %q shows part of the URL (%q)", got, secret)
				}
			}
		})
	}
}
