// Package gatewaytest holds the test fixtures of the gateway's packages: key
// sets and signed tokens, a fake authsession served on loopback, session
// records in an in-memory Redis, and a whole domain service wired to them.
package gatewaytest

// Token defaults, matching the services' defaults.
const (
	Issuer   = "galaxy-authsession"
	Audience = "galaxy-gateway"
	Prefix   = "galaxy:"
)
