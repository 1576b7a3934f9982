// Package envconfig reads typed configuration values from an injectable
// environment lookup and collects every problem, so a misconfigured binary
// reports all of its bad settings at once.
package envconfig

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"galaxy/platform/redisconn"
)

// Lookuper returns the value of an environment variable and whether it is set.
type Lookuper func(key string) (string, bool)

// OS looks variables up in the process environment.
func OS() Lookuper { return os.LookupEnv }

// Map looks variables up in m (for tests).
func Map(m map[string]string) Lookuper {
	return func(key string) (string, bool) {
		v, ok := m[key]
		return v, ok
	}
}

// Unset, as a value given to Overlay, removes the variable.
const Unset = "\x00unset"

// Overlay looks variables up in base with overrides applied: an override
// replaces the base's value, and one of Unset removes the variable (for
// tests that vary a complete environment).
func Overlay(base, overrides map[string]string) Lookuper {
	m := maps.Clone(base)
	if m == nil {
		m = map[string]string{}
	}
	for k, v := range overrides {
		if v == Unset {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return Map(m)
}

// Reader reads values and remembers what was wrong with them.
type Reader struct {
	lookup Lookuper
	errs   []error
}

// New returns a Reader over lookup.
func New(lookup Lookuper) *Reader { return &Reader{lookup: lookup} }

// Err returns every problem met so far as an *Error, or nil.
func (r *Reader) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return &Error{Problems: slices.Clone(r.errs)}
}

// Error is a bad configuration: every problem found, one per setting, in
// the order they were found. A binary prints one line per problem and
// exits with code 2.
type Error struct {
	Problems []error
}

// Error joins the problems, one per line.
func (e *Error) Error() string { return errors.Join(e.Problems...).Error() }

// Unwrap returns the problems, for errors.Is and errors.As.
func (e *Error) Unwrap() []error { return e.Problems }

// Problem reports a bad setting that can only be checked when it is used
// (for example an unreadable key file) as an *Error with one problem.
func Problem(key, value string, err error) *Error {
	return &Error{Problems: []error{problem(key, value, err)}}
}

// Invalid reports err, a setting found bad by the code that uses it (say, a
// constructor refusing an option), as an *Error with one problem.
func Invalid(err error) *Error { return &Error{Problems: []error{err}} }

func problem(key, value string, err error) error { return fmt.Errorf("%s=%q: %w", key, value, err) }

// Check records err, when it is not nil, as a problem of the variable key
// holding value: what a caller found wrong with a value it read.
func (r *Reader) Check(key, value string, err error) {
	if err != nil {
		r.errs = append(r.errs, problem(key, value, err))
	}
}

func (r *Reader) get(key string) (string, bool) {
	v, ok := r.lookup(key)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (r *Reader) fail(key, value string, err error) { r.Check(key, value, err) }

// String returns the variable's value, or def when it is unset or empty.
func (r *Reader) String(key, def string) string {
	if v, ok := r.get(key); ok {
		return v
	}
	return def
}

// Required returns the variable's value and records an error when it is unset.
func (r *Reader) Required(key string) string {
	v, ok := r.get(key)
	if !ok {
		r.errs = append(r.errs, fmt.Errorf("%s is required", key))
	}
	return v
}

// Duration parses a Go duration ("10m", "1.5s"); it must be positive.
func (r *Reader) Duration(key string, def time.Duration) time.Duration {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err == nil && d <= 0 {
		err = errors.New("must be positive")
	}
	if err != nil {
		r.fail(key, v, err)
		return def
	}
	return d
}

// Int parses a decimal integer that must be at least min.
func (r *Reader) Int(key string, def, min int) int {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err == nil && n < min {
		err = fmt.Errorf("must be at least %d", min)
	}
	if err != nil {
		r.fail(key, v, err)
		return def
	}
	return n
}

// LogLevels are the values LogLevel accepts.
var LogLevels = []string{"debug", "info", "warn", "error"}

// LogLevel reads a log level: debug, info, warn or error.
func (r *Reader) LogLevel(key, def string) string {
	v := r.String(key, def)
	if !slices.Contains(LogLevels, v) {
		r.fail(key, v, errors.New("must be one of "+strings.Join(LogLevels, ", ")))
		return def
	}
	return v
}

// RedisURL reads a required redis:// or rediss:// URL. The URL may hold a
// password, so a problem with it names the variable and never quotes the
// value (redisconn.CheckURL).
func (r *Reader) RedisURL(key string) string {
	v := r.Required(key)
	if v == "" {
		return v
	}
	if err := redisconn.CheckURL(v); err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s: %w", key, err))
	}
	return v
}

// HostPort reads an address to listen on or dial: "host:port" with a
// decimal port from 0 to 65535 (0 picks a free port when listening). The
// host may be empty (":9090", every interface), a name or an IP address
// (IPv6 in brackets, "[::1]:9090"); it is not resolved. An address to dial
// needs a host: its caller checks that the host is not empty.
func (r *Reader) HostPort(key, def string) string { return r.checked(key, def, checkHostPort) }

// DialAddr reads a required address to dial: "host:port" with a host (a
// name or an IP address, IPv6 in brackets; it is not resolved) and a
// decimal port from 1 to 65535. A bad one is recorded and "" returned.
func (r *Reader) DialAddr(key string) string {
	v := r.Required(key)
	if v == "" {
		return v
	}
	if err := checkDialAddr(v); err != nil {
		r.fail(key, v, err)
		return ""
	}
	return v
}

func checkDialAddr(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return errors.New("want host:port")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return errors.New("want host:port; the port must be a number from 1 to 65535")
	}
	if host == "" {
		return errors.New("want host:port; missing host")
	}
	return nil
}

// checked returns the variable's value when check accepts it; def when it is
// unset, or when check refuses it (recorded as the variable's problem).
func (r *Reader) checked(key, def string, check func(string) error) string {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	if err := check(v); err != nil {
		r.fail(key, v, err)
		return def
	}
	return v
}

// InheritedPrefix starts a listen address that names an inherited socket: "fd://3".
const InheritedPrefix = "fd://"

// ListenAddr reads an address to listen on: a "host:port" as HostPort reads
// it, or "fd://N", a listening TCP socket that the process inherited as file
// descriptor N (3 or above) from whatever started it: a systemd socket unit,
// a supervisor holding the port across restarts, a harness that binds the
// port before it starts the service, so that clients started beside the
// service can connect at once (the kernel queues them until it accepts).
// lifecycle.Listen opens either.
func (r *Reader) ListenAddr(key, def string) string { return r.checked(key, def, checkListenAddr) }

func checkListenAddr(v string) error {
	if _, inherited, err := InheritedFD(v); inherited {
		return err
	}
	if err := checkHostPort(v); err != nil {
		return fmt.Errorf("%w, or fd://N for an inherited listening socket", err)
	}
	return nil
}

// InheritedFD returns N of a listen address "fd://N"; inherited is false for
// any other address. N must be a decimal file descriptor of 3 or above: 0 to 2
// are the standard streams, never a listening socket.
func InheritedFD(addr string) (fd int, inherited bool, err error) {
	digits, ok := strings.CutPrefix(addr, InheritedPrefix)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(digits, 10, 31)
	switch {
	case err != nil: // ParseUint takes no sign and no empty string
		return 0, true, errors.New("want fd://N, N the number of an inherited file descriptor")
	case n < 3:
		return 0, true, errors.New("want fd://N with N of 3 or above: file descriptors 0 to 2 are the standard streams")
	}
	return int(n), true, nil
}

func checkHostPort(v string) error {
	_, port, err := net.SplitHostPort(v)
	switch {
	case err != nil:
		return errors.New("want host:port")
	case port == "":
		return errors.New("want host:port; the port is missing")
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return errors.New("want host:port; the port must be a number from 0 to 65535")
	}
	return nil
}
