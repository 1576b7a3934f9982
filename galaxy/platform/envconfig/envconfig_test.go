package envconfig_test

import (
	"strings"
	"testing"
	"time"

	"galaxy/platform/envconfig"
)

func TestReaderValuesAndDefaults(t *testing.T) {
	t.Parallel()
	r := envconfig.New(envconfig.Map(map[string]string{
		"S": "value", "D": "250ms", "N": "7", "BLANK": "  ",
	}))
	if got := r.String("S", "def"); got != "value" {
		t.Errorf("String(S) = %q, want %q", got, "value")
	}
	if got := r.String("BLANK", "def"); got != "def" {
		t.Errorf("String(BLANK) = %q, want the default", got)
	}
	if got := r.Duration("D", time.Second); got != 250*time.Millisecond {
		t.Errorf("Duration(D) = %v, want 250ms", got)
	}
	if got := r.Duration("UNSET", time.Second); got != time.Second {
		t.Errorf("Duration(UNSET) = %v, want the default", got)
	}
	if got := r.Int("N", 1, 1); got != 7 {
		t.Errorf("Int(N) = %d, want 7", got)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("Err() = %v, want nil", err)
	}
}

func TestReaderCollectsEveryProblem(t *testing.T) {
	t.Parallel()
	r := envconfig.New(envconfig.Map(map[string]string{"D": "soon", "NEG": "-1s", "N": "0"}))
	r.Required("MISSING")
	r.Duration("D", time.Second)
	r.Duration("NEG", time.Second)
	r.Int("N", 1, 1)
	err := r.Err()
	if err == nil {
		t.Fatal("Err() = nil, want the four problems")
	}
	for _, want := range []string{"MISSING is required", `D="soon"`, `NEG="-1s": must be positive`, `N="0": must be at least 1`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Err() = %q, want it to mention %q", err, want)
		}
	}
}

func TestReaderHostPort(t *testing.T) {
	t.Parallel()
	good := []string{":9090", "127.0.0.1:0", "localhost:65535", "[::1]:8080", "[::]:1", "auth.internal:443", " :9090 "}
	for _, v := range good {
		r := envconfig.New(envconfig.Map(map[string]string{"ADDR": v}))
		if got := r.HostPort("ADDR", ":1"); got != strings.TrimSpace(v) || r.Err() != nil {
			t.Errorf("HostPort(%q) = %q, %v; want the value and no error", v, got, r.Err())
		}
	}
	r := envconfig.New(envconfig.Map(map[string]string{"BLANK": " "}))
	if got := r.HostPort("UNSET", ":9090"); got != ":9090" {
		t.Errorf("HostPort(UNSET) = %q, want the default", got)
	}
	if got := r.HostPort("BLANK", ":9090"); got != ":9090" || r.Err() != nil {
		t.Errorf("HostPort(BLANK) = %q, %v; want the default and no error", got, r.Err())
	}

	bad := []struct{ value, want string }{
		{"9090", "want host:port"},
		{"localhost", "want host:port"},
		{"::1:80", "want host:port"},
		{"[::1]", "want host:port"},
		{"host:80:90", "want host:port"},
		{"localhost:", "port is missing"},
		{":http", "port must be a number from 0 to 65535"},
		{":65536", "port must be a number from 0 to 65535"},
		{":-1", "port must be a number from 0 to 65535"},
		{":+80", "port must be a number from 0 to 65535"},
		{"127.0.0.1:99999999999999999999", "port must be a number from 0 to 65535"},
	}
	for _, tc := range bad {
		r := envconfig.New(envconfig.Map(map[string]string{"ADDR": tc.value}))
		if got := r.HostPort("ADDR", ":1"); got != ":1" {
			t.Errorf("HostPort(%q) = %q, want the default", tc.value, got)
		}
		err := r.Err()
		if err == nil || !strings.Contains(err.Error(), `ADDR="`+tc.value+`": `) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("HostPort(%q): Err() = %v, want it to name ADDR and say %q", tc.value, err, tc.want)
		}
	}
}
