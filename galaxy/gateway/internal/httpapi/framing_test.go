package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"galaxy/gateway/internal/gatewaytest"
	"galaxy/gateway/internal/httpapi"
	"galaxy/platform/apierror"
)

func TestBodiesFramedByTransferEncodingAreRefusedAndTheConnectionClosed(t *testing.T) {
	t.Parallel()
	addr := serveRaw(t, gatewaytest.NewStack(t))
	const body = `{"email":"user@example.com"}`
	chunk := "1c\r\n" + body + "\r\n0\r\n\r\n"
	tests := []struct {
		name, headers, body string
		wantRefused         bool
	}{
		{"content-length and chunked", "Content-Length: 28\r\nTransfer-Encoding: chunked\r\n", chunk, true},
		{"chunked and content-length", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", chunk, true},
		{"chunked only", "Transfer-Encoding: chunked\r\n", chunk, true},
		{"content-length only", "Content-Length: 28\r\n", body, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := exchange(t, addr, "POST /v1/auth/email/start HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"+
				tc.headers+"\r\n"+tc.body)
			if !tc.wantRefused {
				if a.resp.StatusCode != http.StatusOK || a.resp.Close {
					t.Errorf("status = %d, close = %v; want 200 on a connection kept open (body %s)", a.resp.StatusCode, a.resp.Close, a.body)
				}
				return
			}
			wantProblem(t, a.resp, a.body, apierror.InvalidArgument)
			if !a.resp.Close || !a.closed { // net/http reads "Connection: close" into Close
				t.Errorf("Connection: close = %v, closed = %v; want the connection closed after the answer", a.resp.Close, a.closed)
			}
		})
	}
}

// TestEveryRouteRefusesTransferEncodingAsDocumented sends each route a
// request framed by Transfer-Encoding (an empty chunked body): every one,
// with or without a body of its own, answers 400 INVALID_ARGUMENT, which
// the OpenAPI document lists for it.
func TestEveryRouteRefusesTransferEncodingAsDocumented(t *testing.T) {
	t.Parallel()
	addr := serveRaw(t, gatewaytest.NewStack(t))
	doc, _ := loadOpenAPI(t)
	for _, route := range httpapi.Routes() {
		method, path, _ := strings.Cut(route, " ")
		t.Run(route, func(t *testing.T) {
			t.Parallel()
			if _, ok := doc.Paths[path][strings.ToLower(method)].Responses["400"]; !ok {
				t.Errorf("the document lists no 400 for %s", route)
			}
			target := strings.Replace(path, "{session_id}", "AAAAAAAAAAAAAAAAAAAAAA", 1)
			a := exchange(t, addr, method+" "+target+" HTTP/1.1\r\nHost: gateway\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
			wantProblem(t, a.resp, a.body, apierror.InvalidArgument)
		})
	}
}
