package httpapi_test

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"galaxy/gateway/internal/gatewaytest"
	"galaxy/gateway/internal/httpapi"
	"galaxy/platform/apierror"
)

// serveRaw serves the HTTP API with the gateway's own server settings and
// returns its address, for requests written byte by byte.
func serveRaw(t *testing.T) string {
	t.Helper()
	st := gatewaytest.NewStack(t)
	h, err := httpapi.New(st.Service, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := httpapi.NewServer(h, slog.New(slog.DiscardHandler), time.Second)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestBodiesFramedByTransferEncodingAreRefusedAndTheConnectionClosed(t *testing.T) {
	t.Parallel()
	addr := serveRaw(t)
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
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			req := "POST /v1/auth/email/start HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n" +
				tc.headers + "\r\n" + tc.body
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatalf("write: %v", err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			respBody, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !tc.wantRefused {
				if resp.StatusCode != http.StatusOK || resp.Close {
					t.Errorf("status = %d, close = %v; want 200 on a connection kept open (body %s)", resp.StatusCode, resp.Close, respBody)
				}
				return
			}
			wantProblem(t, resp, respBody, apierror.InvalidArgument)
			if !resp.Close { // net/http reads "Connection: close" into Close
				t.Errorf("answer without Connection: close, want it")
			}
			if n, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				t.Errorf("after the answer read %q, %v; want the connection closed (EOF)", n, err)
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
	addr := serveRaw(t)
	doc, _ := loadOpenAPI(t)
	for _, route := range httpapi.Routes() {
		method, path, _ := strings.Cut(route, " ")
		t.Run(route, func(t *testing.T) {
			t.Parallel()
			if _, ok := doc.Paths[path][strings.ToLower(method)].Responses["400"]; !ok {
				t.Errorf("the document lists no 400 for %s", route)
			}
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			target := strings.Replace(path, "{session_id}", "AAAAAAAAAAAAAAAAAAAAAA", 1)
			req := method + " " + target + " HTTP/1.1\r\nHost: gateway\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatalf("write: %v", err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			respBody, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantProblem(t, resp, respBody, apierror.InvalidArgument)
		})
	}
}
