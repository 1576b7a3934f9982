// Package httpapi serves the user service's two HTTP APIs, each on a
// listener of its own: the public API of contracts/user.md (resolve a user
// by email, get one by id), which authsession calls, and the admin API
// (galaxy/README.md, section "user"): read a user with the state of its
// sessions' revocation, disable it, enable it again. Both serve the
// probes, and both sit behind platform/httpserver's middleware: every error
// is an application/problem+json document with a stable code
// (contracts/errors.md), request bodies are read strictly.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"time"

	"galaxy/platform/apierror"
	"galaxy/platform/httpserver"
	"galaxy/user/internal/users"
)

// Handler serves the user service's HTTP APIs.
type Handler struct {
	svc    *users.Service
	logger *slog.Logger
	ready  func(context.Context) error
}

// newHandler checks its inputs.
func newHandler(svc *users.Service, logger *slog.Logger, ready func(context.Context) error) (*Handler, error) {
	switch {
	case svc == nil:
		return nil, errors.New("httpapi: nil service")
	case logger == nil:
		return nil, errors.New("httpapi: nil logger")
	case ready == nil:
		return nil, errors.New("httpapi: nil readiness check")
	}
	return &Handler{svc: svc, logger: logger, ready: ready}, nil
}

// Public returns the public API (contracts/user.md) and the probes; ready
// is the readiness check of GET /readyz.
func Public(svc *users.Service, logger *slog.Logger, ready func(context.Context) error) (http.Handler, error) {
	h, err := newHandler(svc, logger, ready)
	if err != nil {
		return nil, err
	}
	return httpserver.Handler(logger, h.publicRoutes())
}

// Admin returns the admin API and the probes.
func Admin(svc *users.Service, logger *slog.Logger, ready func(context.Context) error) (http.Handler, error) {
	h, err := newHandler(svc, logger, ready)
	if err != nil {
		return nil, err
	}
	return httpserver.Handler(logger, h.adminRoutes())
}

func (h *Handler) publicRoutes() httpserver.Routes {
	routes := httpserver.Probes(h.logger, h.ready)
	maps.Copy(routes, httpserver.Routes{
		"POST /v1/users/resolve": h.resolve,
		"GET /v1/users/{id}":     h.get,
	})
	return routes
}

func (h *Handler) adminRoutes() httpserver.Routes {
	routes := httpserver.Probes(h.logger, h.ready)
	maps.Copy(routes, httpserver.Routes{
		"GET /v1/admin/users/{id}":          h.adminGet,
		"POST /v1/admin/users/{id}/disable": h.disable,
		"POST /v1/admin/users/{id}/enable":  h.enable,
	})
	return routes
}

// userResponse is a user as contracts/user.md states it.
type userResponse struct {
	ID     string `json:"id"`
	Email  string `json:"email"`
	Status string `json:"status"`
}

func publicUser(u users.User) userResponse {
	return userResponse{ID: u.ID, Email: u.Email, Status: string(u.Status)}
}

type resolveRequest struct {
	Email string `json:"email"`
}

// resolve answers 200 with the user owning the email, or 201 with the
// user it created.
func (h *Handler) resolve(w http.ResponseWriter, r *http.Request) {
	var req resolveRequest
	if err := httpserver.DecodeJSON(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	u, created, err := h.svc.Resolve(r.Context(), req.Email)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpserver.WriteJSON(w, status, publicUser(u))
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	u, err := h.svc.User(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, publicUser(u))
}

// adminUser is a user as the admin API shows it.
type adminUser struct {
	ID              string             `json:"id"`
	Email           string             `json:"email"`
	Status          string             `json:"status"`
	Generation      int64              `json:"generation"`
	CreatedAt       string             `json:"created_at"`
	StatusChangedAt string             `json:"status_changed_at"`
	Revocation      revocationResponse `json:"revocation"`
}

// revocationResponse is the state of the revocation of the sessions of the
// user's latest disable.
type revocationResponse struct {
	State string `json:"state"`
	// Generation is the disable's generation (pending or done).
	Generation int64 `json:"generation,omitempty"`
	// While pending: failed attempts so far, the last one's cause and when
	// the next is due.
	Attempts      *int   `json:"attempts,omitempty"`
	LastError     string `json:"last_error,omitempty"`
	NextAttemptAt string `json:"next_attempt_at,omitempty"`
	// Once done: when authsession acknowledged it and how many sessions
	// it ended then.
	RevokedAt       string `json:"revoked_at,omitempty"`
	RevokedSessions *int   `json:"revoked_sessions,omitempty"`
}

func adminView(u users.User) adminUser {
	r := u.Revocation
	rev := revocationResponse{State: r.State()}
	switch rev.State {
	case users.RevocationPending:
		rev.Generation, rev.Attempts, rev.LastError = r.Pending, &r.Attempts, r.LastError
		rev.NextAttemptAt = timestamp(r.NextAttemptAt)
	case users.RevocationDone:
		rev.Generation, rev.RevokedAt, rev.RevokedSessions = r.Done, timestamp(r.DoneAt), &r.Revoked
	}
	return adminUser{
		ID: u.ID, Email: u.Email, Status: string(u.Status), Generation: u.Generation,
		CreatedAt: timestamp(u.CreatedAt), StatusChangedAt: timestamp(u.StatusChangedAt),
		Revocation: rev,
	}
}

func (h *Handler) adminGet(w http.ResponseWriter, r *http.Request) {
	u, err := h.svc.User(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, adminView(u))
}

// disable answers 200 once every session of the user is revoked, or 202
// while the revocation is still being delivered.
func (h *Handler) disable(w http.ResponseWriter, r *http.Request) {
	if err := noBody(r); err != nil {
		h.fail(w, r, err)
		return
	}
	u, err := h.svc.Disable(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if u.Revocation.Pending != 0 {
		status = http.StatusAccepted
	}
	httpserver.WriteJSON(w, status, adminView(u))
}

func (h *Handler) enable(w http.ResponseWriter, r *http.Request) {
	if err := noBody(r); err != nil {
		h.fail(w, r, err)
		return
	}
	u, err := h.svc.Enable(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, adminView(u))
}

// noBody refuses a request that carries a body: the admin actions take
// none.
func noBody(r *http.Request) error {
	if r.ContentLength != 0 {
		return apierror.New(apierror.InvalidArgument, "this request takes no body")
	}
	return nil
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpserver.Fail(h.logger, w, r, err)
}

// timestamp renders t as RFC 3339 in UTC, to the millisecond.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
