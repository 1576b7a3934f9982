package envconfig_test

import (
	"errors"
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

func TestReaderLogLevel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value, want string
		bad         bool
	}{
		{"", "info", false}, {"debug", "debug", false}, {"warn", "warn", false}, {"error", "error", false},
		{"verbose", "info", true}, {"INFO", "info", true},
	} {
		r := envconfig.New(envconfig.Map(map[string]string{"LEVEL": tc.value}))
		got := r.LogLevel("LEVEL", "info")
		err := r.Err()
		if got != tc.want || (err != nil) != tc.bad {
			t.Errorf("LogLevel(%q) = %q, %v; want %q, problem %v", tc.value, got, err, tc.want, tc.bad)
		}
		if tc.bad && !strings.Contains(err.Error(), `LEVEL="`+tc.value+`": must be one of debug, info, warn, error`) {
			t.Errorf("LogLevel(%q) problem = %q", tc.value, err)
		}
	}
}

func TestReaderRedisURL(t *testing.T) {
	t.Parallel()
	r := envconfig.New(envconfig.Map(map[string]string{"GOOD": "redis://127.0.0.1:6379/0", "BAD": "http://alice:s3cret@host:6379"}))
	if got := r.RedisURL("GOOD"); got != "redis://127.0.0.1:6379/0" {
		t.Errorf("RedisURL(GOOD) = %q", got)
	}
	r.RedisURL("BAD")
	r.RedisURL("UNSET")
	var cfgErr *envconfig.Error
	if !errors.As(r.Err(), &cfgErr) || len(cfgErr.Problems) != 2 {
		t.Fatalf("Err() = %v, want two problems", r.Err())
	}
	if got := cfgErr.Problems[0].Error(); !strings.HasPrefix(got, "BAD: ") || strings.Contains(got, "s3cret") {
		t.Errorf("problem = %q, want it to name BAD and never quote the URL", got)
	}
	if got := cfgErr.Problems[1].Error(); got != "UNSET is required" {
		t.Errorf("problem = %q, want %q", got, "UNSET is required")
	}
}

func TestError(t *testing.T) {
	t.Parallel()
	r := envconfig.New(envconfig.Map(nil))
	r.Required("A")
	r.Check("B", "x", errors.New("bad b"))
	r.Check("C", "y", nil)
	var cfgErr *envconfig.Error
	if !errors.As(r.Err(), &cfgErr) {
		t.Fatalf("Err() = %v, want an *envconfig.Error", r.Err())
	}
	if got, want := cfgErr.Error(), "A is required\nB=\"x\": bad b"; got != want {
		t.Errorf("Error() = %q, want %q (one line per problem)", got, want)
	}
	p := envconfig.Problem("KEY_FILE", "/nope.pem", errors.New("no such file"))
	if len(p.Problems) != 1 || p.Problems[0].Error() != `KEY_FILE="/nope.pem": no such file` {
		t.Errorf("Problem() = %q", p.Problems)
	}
	cause := errors.New("burst must be positive")
	if inv := envconfig.Invalid(cause); len(inv.Problems) != 1 || !errors.Is(inv, cause) {
		t.Errorf("Invalid() = %q, want one problem wrapping the cause", inv.Problems)
	}
}

func TestReaderListenAddr(t *testing.T) {
	t.Parallel()
	for _, v := range []string{":9090", "127.0.0.1:0", "[::1]:8080", "fd://3", "fd://17", "fd://2147483647"} {
		r := envconfig.New(envconfig.Map(map[string]string{"ADDR": v}))
		if got := r.ListenAddr("ADDR", ":1"); got != v || r.Err() != nil {
			t.Errorf("ListenAddr(%q) = %q, %v; want the value and no error", v, got, r.Err())
		}
	}
	if got := envconfig.New(envconfig.Map(nil)).ListenAddr("UNSET", ":9090"); got != ":9090" {
		t.Errorf("ListenAddr(UNSET) = %q, want the default", got)
	}
	bad := []struct{ value, want string }{
		{"fd://", "want fd://N"},
		{"fd://x", "want fd://N"},
		{"fd://+3", "want fd://N"},
		{"fd://-3", "want fd://N"},
		{"fd://3.0", "want fd://N"},
		{"fd://2147483648", "want fd://N"},
		{"fd://0", "0 to 2 are the standard streams"},
		{"fd://2", "0 to 2 are the standard streams"},
		{"9090", "want host:port, or fd://N"},
		{":65536", "port must be a number from 0 to 65535, or fd://N"},
	}
	for _, tc := range bad {
		r := envconfig.New(envconfig.Map(map[string]string{"ADDR": tc.value}))
		if got := r.ListenAddr("ADDR", ":1"); got != ":1" {
			t.Errorf("ListenAddr(%q) = %q, want the default", tc.value, got)
		}
		err := r.Err()
		if err == nil || !strings.Contains(err.Error(), `ADDR="`+tc.value+`": `) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ListenAddr(%q): Err() = %v, want it to name ADDR and say %q", tc.value, err, tc.want)
		}
	}
}

func TestReaderDialAddr(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"authsession:9090", "127.0.0.1:1", "[::1]:65535"} {
		r := envconfig.New(envconfig.Map(map[string]string{"ADDR": v}))
		if got := r.DialAddr("ADDR"); got != v || r.Err() != nil {
			t.Errorf("DialAddr(%q) = %q, %v; want the value and no error", v, got, r.Err())
		}
	}
	bad := []struct{ name, value, want string }{
		{"unset", "", "ADDR is required"},
		{"no port", "authsession", "want host:port"},
		{"no host", ":9090", "missing host"},
		{"port 0", "authsession:0", "from 1 to 65535"},
		{"port too large", "authsession:65536", "from 1 to 65535"},
		{"port by name", "authsession:grpc", "from 1 to 65535"},
		{"inherited socket", "fd://3", "want host:port"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := map[string]string{}
			if tc.value != "" {
				m["ADDR"] = tc.value
			}
			r := envconfig.New(envconfig.Map(m))
			if got := r.DialAddr("ADDR"); got != "" {
				t.Errorf("DialAddr(%q) = %q, want \"\"", tc.value, got)
			}
			if err := r.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("DialAddr(%q): Err() = %v, want it to say %q", tc.value, err, tc.want)
			}
		})
	}
}

func TestOverlay(t *testing.T) {
	t.Parallel()
	base := map[string]string{"A": "1", "B": "2"}
	lookup := envconfig.Overlay(base, map[string]string{"B": "3", "C": "4", "A": envconfig.Unset})
	for key, want := range map[string]string{"B": "3", "C": "4"} {
		if got, ok := lookup(key); !ok || got != want {
			t.Errorf("%s = %q, %v; want %q", key, got, ok, want)
		}
	}
	if got, ok := lookup("A"); ok {
		t.Errorf("A = %q, want it removed", got)
	}
	if base["A"] != "1" || base["B"] != "2" || len(base) != 2 {
		t.Errorf("base = %v, want it untouched", base)
	}
}

func TestInheritedFD(t *testing.T) {
	t.Parallel()
	if fd, ok, err := envconfig.InheritedFD("fd://5"); fd != 5 || !ok || err != nil {
		t.Errorf(`InheritedFD("fd://5") = %d, %v, %v; want 5, true, nil`, fd, ok, err)
	}
	for _, addr := range []string{"127.0.0.1:5", ":5", "unix:///run/x.sock", "FD://5"} {
		if _, ok, err := envconfig.InheritedFD(addr); ok || err != nil {
			t.Errorf("InheritedFD(%q) = %v, %v; want not inherited, no error", addr, ok, err)
		}
	}
}
