package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

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
	OperationID string              `json:"operationId"`
	RequestBody json.RawMessage     `json:"requestBody"`
	Responses   map[string]response `json:"responses"`
}

type response struct {
	Ref     string `json:"$ref"`
	Content map[string]struct {
		Schema struct {
			Ref string `json:"$ref"`
		} `json:"schema"`
	} `json:"content"`
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
		if _, ok := op.Responses["200"]; !ok {
			t.Errorf("%s: no 200 response", route)
		}
		if method == http.MethodPost && len(op.RequestBody) == 0 {
			t.Errorf("%s: no request body", route)
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
