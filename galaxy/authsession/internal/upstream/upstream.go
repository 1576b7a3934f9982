// Package upstream is the HTTP JSON plumbing shared by the mail and user
// service clients: one deadline per call, the caller's W3C trace passed on
// in traceparent (platform/tracecontext), no redirects, bounded bodies, and
// every failure reported as DEPENDENCY_UNAVAILABLE for the named dependency.
package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"galaxy/authsession/internal/deadline"
	"galaxy/platform/apierror"
	"galaxy/platform/tracecontext"
)

// MaxResponseBytes bounds the response body read from a dependency.
const MaxResponseBytes = 64 << 10

// Client calls one dependency.
type Client struct {
	name    string
	base    *url.URL
	timeout time.Duration
	hc      *http.Client
}

// New returns a client of dependency name (for example "mail") at baseURL,
// an absolute http(s) URL; each call is bounded by timeout and by the
// caller's deadline less the answer's margin (deadline.Budget).
func New(name, baseURL string, timeout time.Duration) (*Client, error) {
	base, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("%s client: base URL: %w", name, err)
	}
	if (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("%s client: base URL %q is not an absolute http(s) URL", name, baseURL)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("%s client: timeout must be positive", name)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 16
	return &Client{
		name:    name,
		base:    base,
		timeout: timeout,
		hc: &http.Client{
			Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a redirect is not an answer
			},
		},
	}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Response is a dependency's answer.
type Response struct {
	Status    int
	Body      []byte // at most MaxResponseBytes
	Truncated bool   // the body was longer than MaxResponseBytes
}

// Fail reports a failure of the dependency.
func (c *Client) Fail(format string, args ...any) error {
	return apierror.Dependency(c.name, fmt.Errorf(format, args...))
}

// PostJSON sends body as JSON to path (relative to the base URL) with the
// extra header, and returns the answer, whatever its status. A transport
// failure or a timeout is a dependency failure.
func (c *Client) PostJSON(ctx context.Context, path string, header http.Header, body any) (Response, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return Response{}, fmt.Errorf("%s client: encode request: %w", c.name, err)
	}
	return c.do(ctx, http.MethodPost, path, header, payload)
}

// GetJSON fetches path (relative to the base URL; escaped by the caller)
// and returns the answer, whatever its status. A transport failure or a
// timeout is a dependency failure.
func (c *Client) GetJSON(ctx context.Context, path string) (Response, error) {
	return c.do(ctx, http.MethodGet, path, nil, nil)
}

// do sends one request, with payload as a JSON body when it is not nil.
func (c *Client) do(ctx context.Context, method, path string, header http.Header, payload []byte) (Response, error) {
	// The call ends at its own timeout or early enough before the caller's
	// deadline that its failure, naming this dependency, still reaches the
	// caller, whichever comes first.
	ctx, cancel, err := deadline.Budget(ctx, c.timeout)
	defer cancel()
	if err != nil {
		return Response{}, err // the caller's deadline, not a failure of the dependency
	}

	target := c.base.JoinPath(path)
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target.String(), body)
	if err != nil {
		return Response{}, c.Fail("build request: %w", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	tracecontext.InjectHTTP(ctx, req.Header)

	resp, err := c.hc.Do(req)
	if err != nil {
		return Response{}, c.Fail("%s %s: %w", method, target.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return Response{}, c.Fail("%s %s: read answer: %w", method, target.Path, err)
	}
	r := Response{Status: resp.StatusCode, Body: data}
	if len(data) > MaxResponseBytes {
		r.Body, r.Truncated = data[:MaxResponseBytes], true
	}
	return r, nil
}

// Decode decodes exactly one JSON value from data into v: wrong types and
// trailing data are errors. Unknown fields are ignored, so a dependency may
// add fields to its answers without breaking this service.
func Decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
