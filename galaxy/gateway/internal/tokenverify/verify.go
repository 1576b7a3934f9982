package tokenverify

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"galaxy/gateway/internal/gateway"
)

const (
	// Leeway is the clock skew tolerated on exp and nbf.
	Leeway = 30 * time.Second
	// MaxTokenSize bounds the tokens worth parsing; a real one is ~400 bytes.
	MaxTokenSize = 4096
	// accessType is the "typ" claim of an access token.
	accessType = "access"
	// maxNumericDate is the latest time claim worth reading: the last second
	// of the year 9999. Anything later is not a date but an attack on the
	// arithmetic done with it.
	maxNumericDate = 253402300799
)

// timeClaims are the claims that hold a NumericDate (RFC 7519 §2).
var timeClaims = []string{"exp", "nbf", "iat"}

// Verifier checks access tokens against a key set, an issuer and an audience.
type Verifier struct {
	keys   *KeySet
	parser *jwt.Parser
}

// Option customises a Verifier.
type Option func(*options)

type options struct{ now func() time.Time }

// WithClock sets the clock the time claims are checked against (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// NewVerifier returns a Verifier that accepts only EdDSA tokens signed by a
// key in keys, issued by issuer for audience.
func NewVerifier(keys *KeySet, issuer, audience string, opts ...Option) (*Verifier, error) {
	switch {
	case keys == nil || len(keys.keys) == 0:
		return nil, errors.New("tokenverify: no keys")
	case issuer == "":
		return nil, errors.New("tokenverify: empty issuer")
	case audience == "":
		return nil, errors.New("tokenverify: empty audience")
	}
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(o.now),
		jwt.WithStrictDecoding(),
	)
	return &Verifier{keys: keys, parser: parser}, nil
}

// accessClaims are the claims of an access token (contracts/tokens.md).
type accessClaims struct {
	jwt.RegisteredClaims
	Type      string `json:"typ"`
	SessionID string `json:"sid"`
}

// Verify returns the claims of a valid access token. Every failure is the same
// UNAUTHENTICATED error, wrapping the reason for the logs only; the token
// itself never appears in it.
func (v *Verifier) Verify(token string) (gateway.Claims, error) {
	claims, err := v.verify(token)
	if err != nil {
		return gateway.Claims{}, fmt.Errorf("%w: %w", gateway.ErrInvalidToken, err)
	}
	return gateway.Claims{UserID: claims.Subject, SessionID: claims.SessionID}, nil
}

func (v *Verifier) verify(token string) (*accessClaims, error) {
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("token longer than %d bytes", MaxTokenSize)
	}
	var claims accessClaims
	// The time claims are checked first: how the JWT library reads a value
	// that is not a NumericDate is not its contract.
	if err := checkNumericDates(token); err != nil {
		return nil, err
	}
	if _, err := v.parser.ParseWithClaims(token, &claims, v.key); err != nil {
		return nil, err
	}
	switch {
	case claims.Type != accessType:
		return nil, errors.New(`"typ" claim is not "access"`)
	case claims.Subject == "":
		return nil, errors.New(`"sub" claim is missing`)
	case claims.SessionID == "":
		return nil, errors.New(`"sid" claim is missing`)
	}
	return &claims, nil
}

// key picks the verification key named by the token's "kid" header. It runs
// after the parser has checked "alg" against the valid methods.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errors.New(`unsupported "crit" header`)
	}
	kid, ok := t.Header["kid"].(string)
	if !ok || kid == "" {
		return nil, errors.New(`missing "kid" header`)
	}
	key, ok := v.keys.Key(kid)
	if !ok {
		return nil, fmt.Errorf("unknown kid %q", kid)
	}
	return key, nil
}

// checkNumericDates refuses a token whose time claims are not NumericDates:
// RFC 7519 §2 makes one a JSON number of seconds, yet the JWT library also
// reads a string holding a number. Each of exp, nbf and iat, when present,
// must be a finite JSON number from 0 to maxNumericDate.
func checkNumericDates(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("token is malformed")
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("token payload: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil {
		return fmt.Errorf("token payload: %w", err)
	}
	for _, name := range timeClaims {
		v, ok := raw[name]
		if !ok {
			continue
		}
		if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
			return fmt.Errorf("%q claim is not a number", name)
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > maxNumericDate {
			return fmt.Errorf("%q claim is not a usable NumericDate", name)
		}
	}
	return nil
}
