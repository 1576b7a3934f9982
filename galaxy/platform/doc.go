// Package platform holds the small runtime conventions every galaxy binary
// shares: configuration from the environment, structured logging, the
// ready-file handshake and a listen-first, bounded-shutdown server lifecycle.
package platform
