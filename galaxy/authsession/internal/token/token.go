// Package token issues the access tokens of contracts/tokens.md: compact JWS
// (JWT) signed with Ed25519, verified by the gateway against a JWKS.
package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// LoadPrivateKey reads an Ed25519 private key from a PKCS#8 PEM file.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	return ParsePrivateKey(data)
}

// ParsePrivateKey decodes an Ed25519 private key from PKCS#8 PEM.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("signing key: no PEM block found")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("signing key: PEM block is %q, want \"PRIVATE KEY\" (PKCS#8)", block.Type)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	ed, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key: got a %T, want an Ed25519 key", key)
	}
	return ed, nil
}

// IssuerOptions configure an Issuer.
type IssuerOptions struct {
	KeyID    string        // the "kid" header
	Issuer   string        // the "iss" claim
	Audience string        // the "aud" claim (a single string)
	TTL      time.Duration // exp - iat
}

// Issuer signs access tokens.
type Issuer struct {
	key  ed25519.PrivateKey
	opts IssuerOptions
}

// NewIssuer returns an Issuer signing with key.
func NewIssuer(key ed25519.PrivateKey, opts IssuerOptions) (*Issuer, error) {
	switch {
	case len(key) != ed25519.PrivateKeySize:
		return nil, errors.New("token: an Ed25519 private key is required")
	case opts.KeyID == "":
		return nil, errors.New("token: key id is required")
	case opts.Issuer == "":
		return nil, errors.New("token: issuer is required")
	case opts.Audience == "":
		return nil, errors.New("token: audience is required")
	case opts.TTL <= 0:
		return nil, errors.New("token: lifetime must be positive")
	}
	return &Issuer{key: key, opts: opts}, nil
}

// Issue signs an access token for user userID in session sessionID, valid
// from now (whole seconds) for the issuer's lifetime.
func (i *Issuer) Issue(userID, sessionID string, now time.Time) (string, time.Time, error) {
	iat := now.Truncate(time.Second)
	exp := iat.Add(i.opts.TTL)
	claims := jwt.MapClaims{
		"iss": i.opts.Issuer,
		"aud": i.opts.Audience,
		"sub": userID,
		"sid": sessionID,
		"typ": "access",
		"iat": iat.Unix(),
		"nbf": iat.Unix(),
		"exp": exp.Unix(),
		"jti": randomID(),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = i.opts.KeyID
	signed, err := t.SignedString(i.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token: sign: %w", err)
	}
	return signed, exp, nil
}

// randomID returns 128 random bits, base64url without padding.
func randomID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b)
}
