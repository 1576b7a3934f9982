// Package httpapi serves the gateway's public HTTP JSON API (/v1/...), its
// health and readiness probes and its OpenAPI document. Every error is an
// application/problem+json document with a stable code (contracts/errors.md).
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strconv"
	"time"

	"galaxy/gateway/api/openapi"
	"galaxy/gateway/internal/gateway"
	"galaxy/platform/httpserver"
)

// openAPI is the OpenAPI 3.1 document served at /openapi.json (api/openapi).
var openAPI = openapi.Document()

// OpenAPI returns the OpenAPI 3.1 document served at /openapi.json.
func OpenAPI() []byte { return openapi.Document() }

// Handler is the gateway's HTTP API.
type Handler struct {
	svc    *gateway.Service
	logger *slog.Logger
	now    func() time.Time
}

// Option customises a Handler.
type Option func(*Handler)

// WithClock sets the clock expires_in is computed against (tests).
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// MaxBodyBytes bounds every request body (platform/httpserver).
const MaxBodyBytes = httpserver.MaxBodyBytes

// New returns the API handler, behind the shared middleware of
// platform/httpserver (trace, access log, panic recovery, security headers,
// framing, problem documents for unknown routes).
func New(svc *gateway.Service, logger *slog.Logger, opts ...Option) (http.Handler, error) {
	if svc == nil {
		return nil, errors.New("httpapi: nil service")
	}
	if logger == nil {
		return nil, errors.New("httpapi: nil logger")
	}
	h := &Handler{svc: svc, logger: logger, now: time.Now}
	for _, opt := range opts {
		opt(h)
	}
	return httpserver.Handler(logger, h.routes())
}

// Routes lists the patterns the API serves ("METHOD /path").
func Routes() []string {
	var h Handler
	var out []string
	for pattern := range h.routes() {
		out = append(out, pattern)
	}
	return out
}

func (h *Handler) routes() httpserver.Routes {
	routes := httpserver.Probes(h.logger, h.ready)
	maps.Copy(routes, httpserver.Routes{
		"POST /v1/auth/email/start":        h.startEmailLogin,
		"POST /v1/auth/email/confirm":      h.confirmEmailLogin,
		"POST /v1/auth/refresh":            h.refreshSession,
		"POST /v1/auth/logout":             h.logout,
		"GET /v1/me":                       h.me,
		"GET /v1/sessions":                 h.listSessions,
		"DELETE /v1/sessions/{session_id}": h.revokeSession,
		"GET /openapi.json":                h.openAPI,
	})
	return routes
}

type startRequest struct {
	Email string `json:"email"`
}

type startResponse struct {
	ChallengeID string `json:"challenge_id"`
	ExpiresAt   string `json:"expires_at"`
}

func (h *Handler) startEmailLogin(w http.ResponseWriter, r *http.Request) {
	var req startRequest
	if err := httpserver.DecodeJSON(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.svc.StartEmailLogin(r.Context(), req.Email, clientAddr(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, startResponse{ChallengeID: c.ID, ExpiresAt: timestamp(c.ExpiresAt)})
}

type confirmRequest struct {
	ChallengeID string `json:"challenge_id"`
	Code        string `json:"code"`
}

// loginResponse answers a confirmed login and a refresh alike.
type loginResponse struct {
	AccessToken           string `json:"access_token"`
	TokenType             string `json:"token_type"`
	ExpiresIn             int64  `json:"expires_in"`
	AccessTokenExpiresAt  string `json:"access_token_expires_at"`
	RefreshToken          string `json:"refresh_token"`
	RefreshTokenExpiresAt string `json:"refresh_token_expires_at"`
	SessionID             string `json:"session_id"`
	UserID                string `json:"user_id"`
}

func (h *Handler) confirmEmailLogin(w http.ResponseWriter, r *http.Request) {
	var req confirmRequest
	if err := httpserver.DecodeJSON(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	l, err := h.svc.ConfirmEmailLogin(r.Context(), req.ChallengeID, req.Code, clientAddr(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeLogin(w, l)
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (h *Handler) refreshSession(w http.ResponseWriter, r *http.Request) {
	var req refreshRequest
	if err := httpserver.DecodeJSON(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	l, err := h.svc.RefreshSession(r.Context(), req.RefreshToken, clientAddr(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeLogin(w, l)
}

func (h *Handler) writeLogin(w http.ResponseWriter, l gateway.Login) {
	httpserver.WriteJSON(w, http.StatusOK, loginResponse{
		AccessToken:           l.AccessToken,
		TokenType:             gateway.TokenType,
		ExpiresIn:             max(0, l.AccessTokenExpiresAt.Unix()-h.now().Unix()),
		AccessTokenExpiresAt:  timestamp(l.AccessTokenExpiresAt),
		RefreshToken:          l.RefreshToken,
		RefreshTokenExpiresAt: timestamp(l.RefreshTokenExpiresAt),
		SessionID:             l.SessionID,
		UserID:                l.UserID,
	})
}

type meResponse struct {
	UserID           string `json:"user_id"`
	Email            string `json:"email"`
	SessionID        string `json:"session_id"`
	SessionExpiresAt string `json:"session_expires_at"`
}

func (h *Handler) me(w http.ResponseWriter, r *http.Request) {
	token, err := bearerToken(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	s, err := h.svc.Me(r.Context(), token)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpserver.WriteJSON(w, http.StatusOK, meResponse{
		UserID: s.UserID, Email: s.Email, SessionID: s.ID, SessionExpiresAt: timestamp(s.ExpiresAt),
	})
}

// logout ends the caller's session. A request body, if any, is ignored.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	token, err := bearerToken(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.svc.Logout(r.Context(), token); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type sessionsResponse struct {
	Sessions []sessionInfo `json:"sessions"`
}

type sessionInfo struct {
	SessionID string `json:"session_id"`
	CreatedAt string `json:"created_at"`
	ExpiresAt string `json:"expires_at"`
	Current   bool   `json:"current"`
}

func (h *Handler) listSessions(w http.ResponseWriter, r *http.Request) {
	token, err := bearerToken(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list, err := h.svc.ListSessions(r.Context(), token)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	resp := sessionsResponse{Sessions: make([]sessionInfo, 0, len(list))}
	for _, s := range list {
		resp.Sessions = append(resp.Sessions, sessionInfo{
			SessionID: s.ID, CreatedAt: timestamp(s.CreatedAt), ExpiresAt: timestamp(s.ExpiresAt), Current: s.Current,
		})
	}
	httpserver.WriteJSON(w, http.StatusOK, resp)
}

func (h *Handler) revokeSession(w http.ResponseWriter, r *http.Request) {
	token, err := bearerToken(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.svc.RevokeSession(r.Context(), token, r.PathValue("session_id")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// bearerToken is the access token of r's Authorization header.
func bearerToken(r *http.Request) (string, error) {
	return gateway.BearerToken(r.Header.Values("Authorization"))
}

// ready reports whether the gateway's hard dependencies answer.
func (h *Handler) ready(ctx context.Context) error { return h.svc.Ready(ctx) }

func (h *Handler) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(openAPI)))
	w.WriteHeader(http.StatusOK)
	w.Write(openAPI)
}

// fail writes err as a problem document (httpserver.Fail).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpserver.Fail(h.logger, w, r, err)
}

// timestamp renders t as RFC 3339 in UTC, to the second.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// clientAddr is the caller's IP address, from which the domain derives its
// rate-limiting key and client_id. The gateway is the edge, so forwarding
// headers are not trusted.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
