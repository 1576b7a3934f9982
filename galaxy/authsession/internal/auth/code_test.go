package auth_test

import (
	"testing"

	"galaxy/authsession/internal/auth"
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
