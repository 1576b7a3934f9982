package auth_test

import (
	"strings"
	"testing"

	"galaxy/authsession/internal/auth"
)

func TestNewServiceChecksOptions(t *testing.T) {
	t.Parallel()
	_, err := auth.NewService(auth.Options{})
	if err == nil {
		t.Fatal("NewService(zero options) succeeded, want an error")
	}
	for _, want := range []string{"store", "limiter", "mailer", "user service", "token issuer", "code secret", "lifetimes", "attempt", "cooldown", "start limit"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
