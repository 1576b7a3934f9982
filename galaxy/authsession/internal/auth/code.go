package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
)

// CodeLength is the number of decimal digits of a login code.
const CodeLength = 6

// Labels that separate the MAC keys derived from the signing key seed from
// each other and from every other use of the seed.
const (
	codeKeyLabel    = "galaxy/authsession login-code HMAC key v1"
	limitKeyLabel   = "galaxy/authsession rate-limit HMAC key v1"
	refreshKeyLabel = "galaxy/authsession refresh-token HMAC key v1"
)

// Labels that separate the two kinds of derived refresh token.
const (
	initialTokenLabel   = "initial"
	successorTokenLabel = "successor"
)

var codeSpace = big.NewInt(1_000_000) // 10^CodeLength

// NewCode returns a uniformly random code of CodeLength decimal digits.
func NewCode() string {
	n, err := rand.Int(rand.Reader, codeSpace) // rejection sampling: no modulo bias
	if err != nil {
		panic("auth: crypto/rand failed: " + err.Error()) // crypto/rand never fails
	}
	return fmt.Sprintf("%0*d", CodeLength, n)
}

// validCode reports whether code is exactly CodeLength ASCII digits.
func validCode(code string) bool {
	if len(code) != CodeLength {
		return false
	}
	for i := range len(code) {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// deriveKey derives the MAC key named by label from secret.
func deriveKey(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// codeHash is the stored form of code for challenge id: HMAC-SHA-256 bound to
// the challenge, so a hash is useless for any other challenge and the 10^6
// possible codes cannot be tried offline without the key.
func codeHash(key []byte, challengeID, code string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(challengeID))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}

// codeMatches compares in constant time.
func codeMatches(key []byte, c Challenge, code string) bool {
	return hmac.Equal([]byte(codeHash(key, c.ID, code)), []byte(c.CodeHash))
}

// deriveToken returns a refresh token: base64url without padding of
// HMAC-SHA-256 under key of label, then each part preceded by a 0x00 byte.
// Without the key it cannot be told from refreshTokenBytes random bytes, nor
// computed from its inputs; with it, the same inputs give the same token,
// so a retry can be answered with the token already handed out while only
// its hash is stored.
func deriveToken(key []byte, label string, parts ...string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashRefreshToken returns the stored form of a refresh token: hex SHA-256.
func HashRefreshToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
