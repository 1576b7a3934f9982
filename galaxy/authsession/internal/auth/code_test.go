package auth_test

import (
	"strings"
	"testing"

	"galaxy/authsession/internal/auth"
	"galaxy/platform/apierror"
)

func TestNewCodeFormat(t *testing.T) {
	t.Parallel()
	for range 1000 {
		code := auth.NewCode()
		if len(code) != auth.CodeLength {
			t.Fatalf("len(%q) = %d, want %d", code, len(code), auth.CodeLength)
		}
		for _, r := range code {
			if r < '0' || r > '9' {
				t.Fatalf("code %q has non-digit %q", code, r)
			}
		}
	}
}

func TestNewCodeRandomness(t *testing.T) {
	t.Parallel()
	const n = 20000
	seen := make(map[string]bool, n)
	var counts [auth.CodeLength][10]int
	for range n {
		code := auth.NewCode()
		seen[code] = true
		for i, r := range code {
			counts[i][r-'0']++
		}
	}
	// 20000 draws from 10^6 codes repeat about 200 times; far more means a
	// broken generator.
	if got, min := len(seen), n-600; got < min {
		t.Errorf("distinct codes = %d of %d, want at least %d", got, n, min)
	}
	// Each digit is expected n/10 = 2000 times per position (σ ≈ 42).
	for pos, digits := range counts {
		for d, got := range digits {
			if got < 1700 || got > 2300 {
				t.Errorf("digit %d at position %d drawn %d times, want about %d", d, pos, got, n/10)
			}
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	valid := []struct {
		name, in, want string
	}{
		{"plain", "user@example.com", "user@example.com"},
		{"lowercased", "User.Name@Example.COM", "user.name@example.com"},
		{"trimmed", "  user@example.com\t", "user@example.com"},
		{"plus tag", "user+tag@example.com", "user+tag@example.com"},
		{"max length", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com"},
	}
	for _, tc := range valid {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := auth.NormalizeEmail(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want %q, nil", tc.in, got, err, tc.want)
			}
		})
	}

	invalid := []struct {
		name, in string
	}{
		{"empty", ""},
		{"blank", "   "},
		{"no at", "userexample.com"},
		{"no domain", "user@"},
		{"no local part", "@example.com"},
		{"display name", "User <user@example.com>"},
		{"angle brackets", "<user@example.com>"},
		{"two addresses", "a@example.com, b@example.com"},
		{"space inside", "us er@example.com"},
		{"too long", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com"},
		{"newline", "user@example.com\nBcc: x@example.com"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := auth.NormalizeEmail(tc.in)
			if !apierror.Is(err, apierror.InvalidArgument) {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want an INVALID_ARGUMENT error", tc.in, got, err)
			}
		})
	}
}
