package users

import "time"

// Backoff exposes the delay after failed attempt number attempts of d, for
// the external tests.
func Backoff(d *Deliverer, attempts int) time.Duration { return d.backoff(attempts) }
