package sessionkey_test

import (
	"testing"

	"galaxy/platform/sessionkey"
)

// TestFor pins the key to contracts/redis.md: {prefix}session:{session_id}.
func TestFor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ prefix, id, want string }{
		{"galaxy:", "s-1", "galaxy:session:s-1"},
		{"", "s-1", "session:s-1"},
		{"x:", "", "x:session:"},
	} {
		if got := sessionkey.For(tc.prefix, tc.id); got != tc.want {
			t.Errorf("For(%q, %q) = %q, want %q", tc.prefix, tc.id, got, tc.want)
		}
	}
}
