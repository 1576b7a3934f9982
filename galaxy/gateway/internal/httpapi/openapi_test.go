package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"galaxy/gateway/internal/gatewaytest"
	"galaxy/gateway/internal/httpapi"
	"galaxy/platform/apierror"
)

// openAPIDoc is the part of an OpenAPI document the tests walk.
type openAPIDoc struct {
	OpenAPI    string                          `json:"openapi"`
	Paths      map[string]map[string]operation `json:"paths"`
	Components struct {
		Schemas   map[string]json.RawMessage `json:"schemas"`
		Responses map[string]response        `json:"responses"`
	} `json:"components"`
}

type operation struct {
	OperationID string                `json:"operationId"`
	RequestBody json.RawMessage       `json:"requestBody"`
	Responses   map[string]response   `json:"responses"`
	Security    []map[string][]string `json:"security"`
	Parameters  []struct {
		Ref string `json:"$ref"`
	} `json:"parameters"`
}

type response struct {
	Ref     string `json:"$ref"`
	Content map[string]struct {
		Schema struct {
			Ref string `json:"$ref"`
		} `json:"schema"`
	} `json:"content"`
	Headers map[string]json.RawMessage `json:"headers"`
}

// resolve follows a response's $ref into the shared responses.
func (d openAPIDoc) resolve(r response) response {
	if name, ok := strings.CutPrefix(r.Ref, "#/components/responses/"); ok {
		return d.Components.Responses[name]
	}
	return r
}

func loadOpenAPI(t *testing.T) (openAPIDoc, []byte) {
	t.Helper()
	_, a := newStack(t)
	resp, body := a.do(t, request{method: "GET", path: "/openapi.json"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: status = %d, want 200", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	var doc openAPIDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	return doc, body
}

func TestOpenAPIIsServedAsEmbedded(t *testing.T) {
	t.Parallel()
	_, body := loadOpenAPI(t)
	if !bytes.Equal(body, httpapi.OpenAPI()) {
		t.Errorf("served document differs from the embedded one")
	}
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	doc, _ := loadOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	served := map[string]bool{}
	for _, route := range httpapi.Routes() {
		method, path, _ := strings.Cut(route, " ")
		served[strings.ToLower(method)+" "+path] = true
		op, ok := doc.Paths[path][strings.ToLower(method)]
		if !ok {
			t.Errorf("route %q has no operation in the document", route)
			continue
		}
		var success []string
		for status := range op.Responses {
			if strings.HasPrefix(status, "2") {
				success = append(success, status)
			}
		}
		if len(success) != 1 {
			t.Errorf("%s: success responses %q, want exactly one", route, success)
		}
		if r, ok := op.Responses["204"]; ok && len(r.Content) != 0 {
			t.Errorf("%s: a 204 response with content", route)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !served[method+" "+path] {
				t.Errorf("document describes %s %s, which is not served", method, path)
			}
		}
	}
}

// TestOpenAPIErrorsAreProblems checks that every error response of every
// operation is an application/problem+json Problem, and that the Problem
// schema lists every stable code.
func TestOpenAPIErrorsAreProblems(t *testing.T) {
	t.Parallel()
	doc, _ := loadOpenAPI(t)
	for path, ops := range doc.Paths {
		for method, op := range ops {
			for status, resp := range op.Responses {
				if strings.HasPrefix(status, "2") {
					continue
				}
				if name, ok := strings.CutPrefix(resp.Ref, "#/components/responses/"); ok {
					shared, found := doc.Components.Responses[name]
					if !found {
						t.Errorf("%s %s %s: dangling $ref %q", method, path, status, resp.Ref)
						continue
					}
					resp = shared
				}
				if got := resp.Content["application/problem+json"].Schema.Ref; got != "#/components/schemas/Problem" {
					t.Errorf("%s %s %s: schema %q, want the Problem schema as application/problem+json", method, path, status, got)
				}
			}
		}
	}
	var problem struct {
		Properties struct {
			Code struct {
				Enum []string `json:"enum"`
			} `json:"code"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(doc.Components.Schemas["Problem"], &problem); err != nil {
		t.Fatalf("Problem schema: %v", err)
	}
	for _, code := range apierror.Codes() {
		if !slices.Contains(problem.Properties.Code.Enum, string(code)) {
			t.Errorf("Problem.code enum lacks %s", code)
		}
	}
}

// TestOpenAPIRefsResolve checks that every local $ref names something.
func TestOpenAPIRefsResolve(t *testing.T) {
	t.Parallel()
	var doc any
	if err := json.Unmarshal(httpapi.OpenAPI(), &doc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if !resolves(doc, ref) {
					t.Errorf("$ref %q does not resolve", ref)
				}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
}

func resolves(doc any, ref string) bool {
	pointer, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	node := doc
	for _, part := range strings.Split(pointer, "/") {
		m, ok := node.(map[string]any)
		if !ok {
			return false
		}
		if node, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

// probe is one call of every route, made as the document describes it: path
// parameters filled in, a body holding every required field, and a bearer
// token of a live session (a new one for each route).
type probe struct {
	route string
	op    operation
	req   request
}

func probes(t *testing.T, doc openAPIDoc, raw []byte, st *gatewaytest.Stack) []probe {
	t.Helper()
	var schemas struct {
		Components struct {
			Schemas map[string]struct {
				Required []string `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &schemas); err != nil {
		t.Fatalf("decode: %v", err)
	}
	var out []probe
	for i, route := range httpapi.Routes() {
		method, path, _ := strings.Cut(route, " ")
		op := doc.Paths[path][strings.ToLower(method)]
		req := request{method: method, path: strings.ReplaceAll(path, "{session_id}", "sess-x")}
		if len(op.RequestBody) != 0 {
			var rb struct {
				Content map[string]struct {
					Schema struct {
						Ref string `json:"$ref"`
					} `json:"schema"`
				} `json:"content"`
			}
			if err := json.Unmarshal(op.RequestBody, &rb); err != nil {
				t.Fatalf("%s: request body: %v", route, err)
			}
			name := strings.TrimPrefix(rb.Content["application/json"].Schema.Ref, "#/components/schemas/")
			body := map[string]string{}
			for _, field := range schemas.Components.Schemas[name].Required {
				body[field] = "x"
			}
			b, _ := json.Marshal(body)
			req.body = string(b)
		}
		req.header = bearer(st.Login(t, "sess-"+strconv.Itoa(i), "user-1"))
		out = append(out, probe{route: route, op: op, req: req})
	}
	return out
}

// refuseAll is a limiter over its limit.
type refuseAll struct{}

func (refuseAll) Allow(string) (bool, time.Duration) { return false, time.Second }

// TestOpenAPIDocumentsWhatRoutesAnswer calls every route as documented, with
// every login call over the rate limit, and checks that the status it
// answers is documented, with its headers.
func TestOpenAPIDocumentsWhatRoutesAnswer(t *testing.T) {
	t.Parallel()
	doc, raw := loadOpenAPI(t)
	st, a := newStack(t, gatewaytest.WithLoginLimiter(refuseAll{}))
	limited := 0
	for _, p := range probes(t, doc, raw, st) {
		resp, body := a.do(t, p.req)
		status := strconv.Itoa(resp.StatusCode)
		r, ok := p.op.Responses[status]
		if !ok {
			t.Errorf("%s answered %s, which is not documented (body %s)", p.route, status, body)
			continue
		}
		r = doc.resolve(r)
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
			if _, ok := r.Headers["Retry-After"]; !ok {
				t.Errorf("%s: the 429 response does not document Retry-After", p.route)
			}
		}
	}
	if limited != 3 {
		t.Errorf("routes answering RATE_LIMITED = %d, want the 3 login routes", limited)
	}
}

// TestOpenAPIDocumentsBearerAuth calls every route without a token: those
// that answer UNAUTHENTICATED must document the bearer security scheme and a 401 with
// WWW-Authenticate, and only they.
func TestOpenAPIDocumentsBearerAuth(t *testing.T) {
	t.Parallel()
	doc, raw := loadOpenAPI(t)
	st, a := newStack(t)
	secured := 0
	for _, p := range probes(t, doc, raw, st) {
		p.req.header = nil
		resp, body := a.do(t, p.req)
		var problem apierror.Problem
		json.Unmarshal(body, &problem)
		needsToken := problem.Code == apierror.Unauthenticated
		documented := slices.ContainsFunc(p.op.Security, func(req map[string][]string) bool {
			_, ok := req["bearerAuth"]
			return ok
		})
		if needsToken != documented {
			t.Errorf("%s: answers %d without a token, but documents bearer security = %v", p.route, resp.StatusCode, documented)
		}
		if !needsToken {
			continue
		}
		secured++
		r, ok := p.op.Responses["401"]
		if !ok {
			t.Errorf("%s: no 401 response", p.route)
			continue
		}
		if _, ok := doc.resolve(r).Headers["WWW-Authenticate"]; !ok {
			t.Errorf("%s: the 401 response does not document WWW-Authenticate", p.route)
		}
	}
	if secured != 4 {
		t.Errorf("routes needing a token = %d, want 4 (me, logout, list, revoke)", secured)
	}
}

// TestOpenAPIDocumentsRequestBodies sends every route a text/plain body:
// the routes that read a JSON body refuse it (415), and exactly those
// document a request body.
func TestOpenAPIDocumentsRequestBodies(t *testing.T) {
	t.Parallel()
	doc, raw := loadOpenAPI(t)
	st, a := newStack(t)
	for _, p := range probes(t, doc, raw, st) {
		if p.req.method == http.MethodGet {
			continue
		}
		p.req.body = "x"
		p.req.header.Set("Content-Type", "text/plain")
		resp, _ := a.do(t, p.req)
		reads := resp.StatusCode == http.StatusUnsupportedMediaType
		if documented := len(p.op.RequestBody) != 0; reads != documented {
			t.Errorf("%s: reads a JSON body = %v, documents one = %v", p.route, reads, documented)
		}
		if _, ok := p.op.Responses["415"]; reads && !ok {
			t.Errorf("%s: no 415 response", p.route)
		}
	}
}

// TestOpenAPIStatusesAreStable checks that every documented error status is
// the status of a stable code, every path parameter is declared, and every
// 429 response documents Retry-After (RATE_LIMITED may answer any 429).
func TestOpenAPIStatusesAreStable(t *testing.T) {
	t.Parallel()
	doc, _ := loadOpenAPI(t)
	statuses := map[string]bool{}
	for _, code := range apierror.Codes() {
		statuses[strconv.Itoa(apierror.HTTPStatus(code))] = true
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			for status, r := range op.Responses {
				if !strings.HasPrefix(status, "2") && !statuses[status] {
					t.Errorf("%s %s: status %s is not that of a stable code", method, path, status)
				}
				if _, ok := doc.resolve(r).Headers["Retry-After"]; status == "429" && !ok {
					t.Errorf("%s %s: the 429 response does not document Retry-After", method, path)
				}
			}
			if strings.Contains(path, "{session_id}") &&
				!slices.ContainsFunc(op.Parameters, func(p struct {
					Ref string `json:"$ref"`
				}) bool {
					return p.Ref == "#/components/parameters/SessionId"
				}) {
				t.Errorf("%s %s: session_id is not declared", method, path)
			}
		}
	}
}

// TestOpenAPIDocumentsAuthsessionErrors makes authsession answer each route's
// call with each code it may give (contracts/errors.md) and checks that the
// status the route then answers is documented.
func TestOpenAPIDocumentsAuthsessionErrors(t *testing.T) {
	t.Parallel()
	shared := []apierror.Code{apierror.InvalidArgument, apierror.RateLimited, apierror.DependencyUnavailable, apierror.Internal}
	upstream := map[string][]apierror.Code{
		"POST /v1/auth/email/start": shared,
		"POST /v1/auth/email/confirm": append([]apierror.Code{
			apierror.InvalidCode, apierror.ChallengeNotFound, apierror.TooManyAttempts, apierror.UserDisabled,
		}, shared...),
		"POST /v1/auth/refresh":            append([]apierror.Code{apierror.InvalidRefreshToken, apierror.UserDisabled}, shared...),
		"POST /v1/auth/logout":             {apierror.SessionNotFound, apierror.DependencyUnavailable, apierror.Internal},
		"GET /v1/sessions":                 {apierror.DependencyUnavailable, apierror.Internal},
		"DELETE /v1/sessions/{session_id}": {apierror.SessionNotFound, apierror.DependencyUnavailable, apierror.Internal},
	}
	doc, raw := loadOpenAPI(t)
	for _, p := range probes(t, doc, raw, gatewaytest.NewStack(t)) {
		for _, code := range upstream[p.route] {
			t.Run(p.route+"/"+string(code), func(t *testing.T) {
				t.Parallel()
				st, a := newStack(t)
				req := p.req
				req.header = bearer(st.Key.Sign(t, gatewaytest.AccessClaims("user-1", "sess-1", time.Now())))
				gatewaytest.PutSession(t, st.Redis, gatewaytest.ActiveSession("sess-1", "user-1"))
				st.Auth.FailWith(gatewaytest.Fail(code, "upstream", nil))
				resp, body := a.do(t, req)
				if len(st.Auth.Calls()) == 0 {
					t.Fatalf("authsession was not called (answer %d %s)", resp.StatusCode, body)
				}
				if _, ok := p.op.Responses[strconv.Itoa(resp.StatusCode)]; !ok {
					t.Errorf("answered %d for authsession's %s, which is not documented", resp.StatusCode, code)
				}
			})
		}
	}
}
