// Package sessionkey names the public Redis key of a session record
// (contracts/redis.md): authsession writes it and the gateway reads it, so
// both build it with this one function.
package sessionkey

// For is the key of session id's record under the key prefix, e.g.
// "galaxy:session:{id}".
func For(prefix, id string) string { return prefix + "session:" + id }
