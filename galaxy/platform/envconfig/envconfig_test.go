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
