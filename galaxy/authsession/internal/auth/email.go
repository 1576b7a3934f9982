package auth

import (
	"net/mail"
	"strings"

	"galaxy/platform/apierror"
)

// maxEmailLength is the longest usable address (RFC 5321 path limit).
const maxEmailLength = 254

// NormalizeEmail validates a bare email address ("user@example.com", no
// display name, no angle brackets) and returns it trimmed and lowercased.
func NormalizeEmail(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", apierror.New(apierror.InvalidArgument, "email is required")
	}
	if len(s) > maxEmailLength {
		return "", apierror.New(apierror.InvalidArgument, "email is longer than %d characters", maxEmailLength)
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", apierror.New(apierror.InvalidArgument, "email is not a valid address")
	}
	return strings.ToLower(s), nil
}
