package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"galaxy/gateway/internal/gateway"
	"galaxy/gateway/internal/gatewaytest"
	"galaxy/gateway/internal/httpapi"
	"galaxy/platform/apierror"
	"galaxy/platform/logging"
)

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// api is the HTTP API served on loopback over a service.
type api struct {
	url  string
	logs *logBuffer
}

func serve(t *testing.T, svc *gateway.Service, opts ...httpapi.Option) *api {
	t.Helper()
	logs := &logBuffer{}
	logger, err := logging.New(logs, "gateway", "debug")
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(svc, logger, opts...)
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &api{url: srv.URL, logs: logs}
}

// request is one HTTP call; a non-empty body defaults to application/json.
// from, if set, is the loopback address the call is made from.
type request struct {
	method, path, body string
	header             http.Header
	from               string
}

func (a *api) do(t *testing.T, req request) (*http.Response, []byte) {
	t.Helper()
	r, err := http.NewRequestWithContext(t.Context(), req.method, a.url+req.path, strings.NewReader(req.body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if req.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range req.header {
		r.Header.Del(k)
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	if req.from != "" {
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(req.from)}}
		client.Transport = &http.Transport{DialContext: dialer.DialContext}
		defer client.CloseIdleConnections()
	}
	resp, err := client.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, body
}

// wantProblem checks that resp is a problem document with code (and the
// status of its code) and returns it.
func wantProblem(t *testing.T, resp *http.Response, body []byte, code apierror.Code) apierror.Problem {
	t.Helper()
	if got, want := resp.StatusCode, apierror.HTTPStatus(code); got != want {
		t.Errorf("status = %d, want %d (body %s)", got, want, body)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", got)
	}
	var p apierror.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem %s: %v", body, err)
	}
	if p.Code != code || p.Status != resp.StatusCode || p.Type != "urn:galaxy:error:"+string(code) {
		t.Errorf("problem = %+v, want code %s", p, code)
	}
	if code == apierror.Unauthenticated && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", resp.Header.Get("WWW-Authenticate"))
	}
	return p
}

// decodeObject decodes a JSON object and checks it has exactly the keys want.
func decodeObject(t *testing.T, body []byte, want ...string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("body %s lacks %q", body, k)
		}
	}
	if len(m) != len(want) {
		t.Errorf("body %s has %d keys, want exactly %q", body, len(m), want)
	}
	return m
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// newStack is a gateway stack with its HTTP API.
func newStack(t *testing.T, opts ...gatewaytest.StackOption) (*gatewaytest.Stack, *api) {
	t.Helper()
	st := gatewaytest.NewStack(t, opts...)
	return st, serve(t, st.Service)
}
