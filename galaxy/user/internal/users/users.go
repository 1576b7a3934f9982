// Package users is the user service's domain: users resolved (or created)
// by their normalised email, looked up by id, disabled and enabled again
// by an administrator; and the end of every session of a disabled user,
// delivered to authsession from a durable outbox until it is acknowledged
// (Deliverer). It talks to its storage and to authsession only through the
// interfaces below.
package users

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"galaxy/platform/apierror"
)

// Status is a user's account state (contracts/user.md).
type Status string

// The user states.
const (
	Active   Status = "active"
	Disabled Status = "disabled"
)

// User is a user and the state of the revocation of its sessions.
type User struct {
	ID     string
	Email  string // normalised (platform/email)
	Status Status
	// Generation numbers the user's status: 1 when it is created, one more
	// at each change (disable or enable). A revocation is for the
	// generation whose disable asked for it.
	Generation      int64
	CreatedAt       time.Time
	StatusChangedAt time.Time
	Revocation      Revocation
}

// Revocation is what is known about ending every session of a disabled
// user at authsession (RevokeAllSessions).
type Revocation struct {
	// Pending is the generation of the disable whose revocation
	// authsession has not acknowledged yet; 0 when none is pending.
	Pending int64
	// Attempts counts the failed deliveries of the pending revocation;
	// LastError says why the latest one failed and NextAttemptAt when the
	// next one is due.
	Attempts      int
	LastError     string
	NextAttemptAt time.Time
	// Traceparent is the W3C trace of the disable that asked for the
	// pending revocation: each delivery continues it.
	Traceparent string
	// Done is the latest generation whose revocation authsession
	// acknowledged, at DoneAt, reporting Revoked sessions ended; 0 when
	// none was.
	Done    int64
	DoneAt  time.Time
	Revoked int
}

// The revocation states an administrator sees.
const (
	RevocationNone    = "none"    // never disabled
	RevocationPending = "pending" // a disable's sessions are not yet known to be revoked
	RevocationDone    = "done"    // authsession acknowledged the latest disable's revocation
)

// State is the revocation state of the user's latest disable.
func (r Revocation) State() string {
	switch {
	case r.Pending != 0:
		return RevocationPending
	case r.Done != 0:
		return RevocationDone
	default:
		return RevocationNone
	}
}

// Store keeps users and the revocation outbox. Errors carry apierror
// codes: NOT_FOUND (ErrNotFound) for an unknown user, DEPENDENCY_UNAVAILABLE
// when the store itself fails.
type Store interface {
	// Resolve returns the user owning email, or creates candidate (whose
	// Email is email) and returns it with created true. Of concurrent
	// calls for one email exactly one creates; the others return that
	// user.
	Resolve(ctx context.Context, email string, candidate User) (u User, created bool, err error)
	// User returns user id.
	User(ctx context.Context, id string) (User, error)
	// Disable atomically marks an active user disabled, numbers the change
	// (Generation) and enqueues the revocation of its sessions for that
	// generation, due at once, continuing trace traceparent. A disabled
	// user is returned unchanged.
	Disable(ctx context.Context, id string, at time.Time, traceparent string) (User, error)
	// Enable atomically marks a disabled user active and numbers the
	// change, unless its revocation is still pending: then it changes
	// nothing and fails with ErrRevocationPending. An active user is
	// returned unchanged.
	Enable(ctx context.Context, id string, at time.Time) (User, error)

	// DueRevocations returns up to limit users whose pending revocation is
	// due at now, and when the next one not yet due is (zero: none).
	DueRevocations(ctx context.Context, now time.Time, limit int) (ids []string, next time.Time, err error)
	// ClaimRevocation claims the delivery of user id's pending revocation
	// from now for claim, so that no other deliverer attempts it
	// meanwhile (nor finds it due), and returns the user. ok is false when
	// another holds the claim or when nothing is pending (the outbox entry
	// is then dropped).
	ClaimRevocation(ctx context.Context, id string, now time.Time, claim time.Duration) (u User, ok bool, err error)
	// AckRevocation records that authsession acknowledged the revocation
	// of generation, revoking revoked sessions, at at: it is done and
	// leaves the outbox. A revocation no longer pending for generation
	// is left alone. The claim is released.
	AckRevocation(ctx context.Context, id string, generation int64, at time.Time, revoked int) error
	// FailRevocation records a failed delivery of generation's revocation:
	// attempts so far, why, and when the next one is due. A revocation no
	// longer pending for generation is left alone. The claim is released.
	FailRevocation(ctx context.Context, id string, generation int64, attempts int, cause string, next time.Time) error
	// ReleaseRevocation gives up the claim on user id's revocation, which
	// stays pending and is due at once.
	ReleaseRevocation(ctx context.Context, id string) error
}

// Revoker ends every session of a user at authsession.
type Revoker interface {
	// RevokeAllSessions revokes every session of user userID and returns
	// how many it revoked; repeating it is harmless.
	RevokeAllSessions(ctx context.Context, userID string) (int, error)
}

// ErrNotFound is the error for an unknown user.
var ErrNotFound error = apierror.New(apierror.NotFound, "no such user")

// ErrRevocationPending is what Store.Enable returns for a user whose
// sessions are not yet known to be revoked.
var ErrRevocationPending = errors.New("users: the revocation of the user's sessions is still pending")

// idPrefix starts every user id, followed by 32 lower-case hex digits.
const idPrefix = "usr_"

// idRandomBytes is the randomness of a user id.
const idRandomBytes = 16

// NewID returns a new random user id: "usr_" and 32 lower-case hex digits
// (128 bits from a CSPRNG).
func NewID() string {
	b := make([]byte, idRandomBytes)
	rand.Read(b) // never fails (crypto/rand)
	return idPrefix + hex.EncodeToString(b)
}

// ValidID reports whether id has the form of a user id; no other string
// names a user.
func ValidID(id string) bool {
	digits, ok := strings.CutPrefix(id, idPrefix)
	if !ok || len(digits) != 2*idRandomBytes {
		return false
	}
	for _, c := range digits {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
