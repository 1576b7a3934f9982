// Package apierror is the one error type of the galaxy services and the one
// table that maps its stable codes to HTTP statuses and gRPC codes
// (contracts/errors.md). Unknown errors become INTERNAL with no detail leaked.
package apierror

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Code is a stable machine-readable error code.
type Code string

// The stable codes (contracts/errors.md).
const (
	InvalidArgument       Code = "INVALID_ARGUMENT"
	InvalidCode           Code = "INVALID_CODE"
	ChallengeNotFound     Code = "CHALLENGE_NOT_FOUND"
	TooManyAttempts       Code = "TOO_MANY_ATTEMPTS"
	UserDisabled          Code = "USER_DISABLED"
	Unauthenticated       Code = "UNAUTHENTICATED"
	InvalidRefreshToken   Code = "INVALID_REFRESH_TOKEN"
	SessionNotFound       Code = "SESSION_NOT_FOUND"
	RateLimited           Code = "RATE_LIMITED"
	DependencyUnavailable Code = "DEPENDENCY_UNAVAILABLE"
	NotFound              Code = "NOT_FOUND"
	MethodNotAllowed      Code = "METHOD_NOT_ALLOWED"
	UnsupportedMediaType  Code = "UNSUPPORTED_MEDIA_TYPE"
	PayloadTooLarge       Code = "PAYLOAD_TOO_LARGE"
	Internal              Code = "INTERNAL"
)

type mapping struct {
	http  int
	grpc  codes.Code
	title string
}

// table is the single source of the code → status mapping.
var table = map[Code]mapping{
	InvalidArgument:       {http.StatusBadRequest, codes.InvalidArgument, "Invalid argument"},
	InvalidCode:           {http.StatusBadRequest, codes.InvalidArgument, "Invalid code"},
	ChallengeNotFound:     {http.StatusNotFound, codes.NotFound, "Challenge not found"},
	TooManyAttempts:       {http.StatusTooManyRequests, codes.ResourceExhausted, "Too many attempts"},
	UserDisabled:          {http.StatusForbidden, codes.PermissionDenied, "User disabled"},
	Unauthenticated:       {http.StatusUnauthorized, codes.Unauthenticated, "Unauthenticated"},
	InvalidRefreshToken:   {http.StatusUnauthorized, codes.Unauthenticated, "Invalid refresh token"},
	SessionNotFound:       {http.StatusNotFound, codes.NotFound, "Session not found"},
	RateLimited:           {http.StatusTooManyRequests, codes.ResourceExhausted, "Rate limited"},
	DependencyUnavailable: {http.StatusServiceUnavailable, codes.Unavailable, "Dependency unavailable"},
	NotFound:              {http.StatusNotFound, codes.NotFound, "Not found"},
	MethodNotAllowed:      {http.StatusMethodNotAllowed, codes.Unimplemented, "Method not allowed"},
	UnsupportedMediaType:  {http.StatusUnsupportedMediaType, codes.InvalidArgument, "Unsupported media type"},
	PayloadTooLarge:       {http.StatusRequestEntityTooLarge, codes.InvalidArgument, "Payload too large"},
	Internal:              {http.StatusInternalServerError, codes.Internal, "Internal error"},
}

// Codes lists every stable code, sorted.
func Codes() []Code { return slices.Sorted(maps.Keys(table)) }

// HTTPStatus returns the HTTP status of code (500 for an unknown code).
func HTTPStatus(code Code) int { return lookup(code).http }

// GRPCCode returns the gRPC code of code (Internal for an unknown code).
func GRPCCode(code Code) codes.Code { return lookup(code).grpc }

func lookup(code Code) mapping {
	if m, ok := table[code]; ok {
		return m
	}
	return table[Internal]
}

// Error is a domain error with a stable code, a human message, optional
// metadata (for example {"dependency": "mail"}) and, for RATE_LIMITED and
// other retryable answers, how long the caller should wait.
type Error struct {
	Code       Code
	Message    string
	Metadata   map[string]string
	RetryAfter time.Duration
	cause      error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the underlying cause, kept for logs and never sent to clients.
func (e *Error) Unwrap() error { return e.cause }

// New returns an error with code and message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Limited reports a rate limit; the caller may retry after retryAfter.
func Limited(retryAfter time.Duration, format string, args ...any) *Error {
	return &Error{Code: RateLimited, Message: fmt.Sprintf(format, args...), RetryAfter: retryAfter}
}

// retrySeconds is retryAfter rounded up to whole seconds (at least 1), as
// HTTP's Retry-After and RetryInfo carry it.
func retrySeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// Dependency reports that the named dependency failed; cause stays internal.
func Dependency(name string, cause error) *Error {
	return &Error{
		Code:     DependencyUnavailable,
		Message:  name + " is unavailable",
		Metadata: map[string]string{"dependency": name},
		cause:    cause,
	}
}

// Dependencies reports that every one of names failed (at least one, in the
// order given): metadata "dependency" names the first, as Dependency does,
// and "dependencies" lists them all, comma-separated. cause stays internal.
func Dependencies(names []string, cause error) *Error {
	if len(names) == 0 {
		return &Error{Code: Internal, Message: "internal error", cause: cause}
	}
	e := Dependency(names[0], cause)
	e.Metadata["dependencies"] = strings.Join(names, ",")
	if len(names) > 1 {
		e.Message = strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] + " are unavailable"
	}
	return e
}

// As returns err as an *Error; anything else becomes a generic INTERNAL
// error that keeps err only as its (never exposed) cause.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Internal, Message: "internal error", cause: err}
}

// Is reports whether err carries code.
func Is(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// GRPCStatus renders err as a gRPC status carrying google.rpc.ErrorInfo.
func GRPCStatus(err error, domain string) *status.Status {
	e := As(err)
	st := status.New(GRPCCode(e.Code), e.Message)
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: string(e.Code), Domain: domain, Metadata: e.Metadata}}
	if e.RetryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{
			RetryDelay: durationpb.New(time.Duration(retrySeconds(e.RetryAfter)) * time.Second),
		})
	}
	withDetails, derr := st.WithDetails(details...)
	if derr != nil {
		return st
	}
	return withDetails
}

// FromGRPC turns a status returned by another galaxy service back into an
// *Error, keeping its code and metadata. Every galaxy service attaches an
// ErrorInfo with a known reason to each error it returns, so a status
// without one did not come from the service's contract: it came from the
// transport (a refused or reset connection and GOAWAY are UNAVAILABLE, a
// deadline DEADLINE_EXCEEDED, an RST_STREAM mostly INTERNAL, a malformed or
// non-gRPC answer UNKNOWN), from something in between (a proxy) or from a
// version of the service that breaks the contract. Whatever its code, it is
// DEPENDENCY_UNAVAILABLE for dependency, never INTERNAL: the dependency
// failed, not the caller.
func FromGRPC(err error, dependency string) *Error {
	st, ok := status.FromError(err)
	if !ok {
		return Dependency(dependency, err)
	}
	var out *Error
	var retry time.Duration
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if _, known := table[Code(d.Reason)]; known {
				out = &Error{Code: Code(d.Reason), Message: st.Message(), Metadata: d.Metadata, cause: err}
			}
		case *errdetails.RetryInfo:
			retry = d.GetRetryDelay().AsDuration()
		}
	}
	if out != nil {
		out.RetryAfter = retry
		return out
	}
	return Dependency(dependency, err)
}

// Problem is the RFC 9457 body of an HTTP error.
type Problem struct {
	Type     string            `json:"type"`
	Title    string            `json:"title"`
	Status   int               `json:"status"`
	Detail   string            `json:"detail"`
	Code     Code              `json:"code"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// ProblemOf renders err as a problem document.
func ProblemOf(err error) Problem {
	e := As(err)
	m := lookup(e.Code)
	return Problem{
		Type: "urn:galaxy:error:" + string(e.Code), Title: m.title, Status: m.http,
		Detail: e.Message, Code: e.Code, Metadata: e.Metadata,
	}
}

// WriteHTTP writes err as application/problem+json.
func WriteHTTP(w http.ResponseWriter, err error) {
	p := ProblemOf(err)
	body, _ := json.Marshal(p) // a Problem always encodes
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="galaxy"`)
	}
	if e := As(err); e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(retrySeconds(e.RetryAfter), 10))
	}
	w.WriteHeader(p.Status)
	w.Write(body)
}
