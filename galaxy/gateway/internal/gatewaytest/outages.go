package gatewaytest

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"galaxy/platform/sessionkey"
)

// Deadlines of the stacks Outages builds: short, so that outages that end
// in a deadline keep the tests quick.
const (
	OutageAuthTimeout  = 500 * time.Millisecond
	OutageRedisTimeout = 300 * time.Millisecond
)

// Outage is one way a dependency of a Stack fails.
type Outage struct {
	Name string
	// Dependency is the failing dependency, as DEPENDENCY_UNAVAILABLE names
	// it: "redis" or "authsession".
	Dependency string
	// Options point the stack at a failing server, if the outage needs one.
	Options func(tb testing.TB) []StackOption
	// Break, if set, breaks the stack once built.
	Break func(tb testing.TB, s *Stack)
}

// NewStack builds a stack with the outage's options and the short outage
// deadlines, live session "sess-1" of "user-1" stored, then breaks it. It
// returns the stack and an access token of that session.
func (o Outage) NewStack(tb testing.TB, opts ...StackOption) (*Stack, string) {
	tb.Helper()
	opts = append([]StackOption{WithTimeouts(OutageAuthTimeout, OutageRedisTimeout)}, opts...)
	if o.Options != nil {
		opts = append(opts, o.Options(tb)...)
	}
	s := NewStack(tb, opts...)
	token := s.Login(tb, "sess-1", "user-1")
	if o.Break != nil {
		o.Break(tb, s)
	}
	return s, token
}

// Within is how long a call may take in the outage: the failing
// dependency's deadline and a margin for a loaded machine.
func (o Outage) Within() time.Duration {
	d := OutageAuthTimeout
	if o.Dependency == "redis" {
		d = OutageRedisTimeout
	}
	return d + 2*time.Second
}

// Outages lists the failures of Redis and of authsession (the process, the
// link or something in between) that the gateway must answer as
// DEPENDENCY_UNAVAILABLE of that dependency, never as INTERNAL and never by
// accepting a token whose session it could not read.
func Outages() []Outage {
	redisAt := func(addr func(testing.TB) string) func(testing.TB) []StackOption {
		return func(tb testing.TB) []StackOption { return []StackOption{WithRedisAddr(addr(tb))} }
	}
	authAt := func(addr func(testing.TB) string) func(testing.TB) []StackOption {
		return func(tb testing.TB) []StackOption { return []StackOption{WithAuthAddr(addr(tb))} }
	}
	http2Fault := func(f HTTP2Fault) func(testing.TB) string {
		return func(tb testing.TB) string { return HTTP2FaultAddr(tb, f) }
	}
	authFails := func(err error) func(testing.TB, *Stack) {
		return func(_ testing.TB, s *Stack) { s.Auth.FailWith(err) }
	}
	return []Outage{
		{Name: "redis refuses connections", Dependency: "redis", Options: redisAt(DeadAddr)},
		{Name: "redis resets connections", Dependency: "redis", Options: redisAt(ResettingAddr)},
		{Name: "redis never answers", Dependency: "redis", Options: redisAt(SilentAddr)},
		{Name: "redis answers errors", Dependency: "redis", Break: func(_ testing.TB, s *Stack) {
			s.Redis.SetError("LOADING Redis is loading the dataset in memory")
		}},
		{Name: "redis stopped", Dependency: "redis", Break: func(_ testing.TB, s *Stack) { s.Redis.Close() }},
		{Name: "session key of another type", Dependency: "redis", Break: func(_ testing.TB, s *Stack) {
			key := sessionkey.For(Prefix, "sess-1")
			s.Redis.Del(key)
			s.Redis.Set(key, "not a hash")
		}},

		{Name: "authsession refuses connections", Dependency: "authsession", Options: authAt(DeadAddr)},
		{Name: "authsession resets connections", Dependency: "authsession", Options: authAt(ResettingAddr)},
		{Name: "authsession never answers", Dependency: "authsession", Options: authAt(SilentAddr)},
		{Name: "authsession calls hang", Dependency: "authsession", Break: func(_ testing.TB, s *Stack) { s.Auth.Hang() }},
		{Name: "authsession RST_STREAM", Dependency: "authsession", Options: authAt(http2Fault(RSTStream))},
		{Name: "authsession GOAWAY", Dependency: "authsession", Options: authAt(http2Fault(GoAway))},
		{Name: "proxy before authsession answers 500", Dependency: "authsession", Options: authAt(http2Fault(ProxyError))},
		{Name: "authsession resets after the request", Dependency: "authsession", Options: authAt(http2Fault(ResetAfterRequest))},
		{Name: "bare UNAVAILABLE", Dependency: "authsession", Break: authFails(status.Error(codes.Unavailable, "connection closed"))},
		{Name: "bare DEADLINE_EXCEEDED", Dependency: "authsession", Break: authFails(status.Error(codes.DeadlineExceeded, "deadline exceeded"))},
		{Name: "bare CANCELED", Dependency: "authsession", Break: authFails(status.Error(codes.Canceled, "context canceled"))},
		{Name: "UNKNOWN with transport text", Dependency: "authsession", Break: authFails(status.Error(codes.Unknown, "transport: connection reset by peer"))},
	}
}
