package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"galaxy/gateway/internal/gatewaytest"
	"galaxy/platform/apierror"
)

// The answers net/http gives while it reads a request, before any of the
// gateway's code runs (contracts/errors.md, "Answers from the HTTP layer"),
// each request written byte by byte to the gateway's own server settings.
// The requests are logouts with a valid token wherever they can be, so that
// one served by mistake would reach authsession, which the tests check
// nothing did.

// wantPlain checks that a is the plain answer net/http gives while it reads
// a request: status, Content-Type text/plain (none without a body), body,
// none of the gateway's own headers, Connection: close and the connection
// closed.
func wantPlain(t *testing.T, a rawAnswer, status int, body string) {
	t.Helper()
	if a.resp.StatusCode != status || string(a.body) != body {
		t.Errorf("answer = %d %q, want %d %q", a.resp.StatusCode, a.body, status, body)
	}
	wantType := "text/plain; charset=utf-8"
	if body == "" {
		wantType = ""
	}
	if got := a.resp.Header.Get("Content-Type"); got != wantType {
		t.Errorf("Content-Type = %q, want %q", got, wantType)
	}
	if got := a.resp.Header.Get("Cache-Control"); got != "" {
		t.Errorf("Cache-Control = %q, want none: the answer comes before the gateway's code", got)
	}
	if !a.resp.Close || !a.closed {
		t.Errorf("Connection: close = %v, closed = %v; want the connection closed after the answer", a.resp.Close, a.closed)
	}
}

// logout is a logout request for token, with extra header lines (each ending
// in CRLF) after its Host and Authorization.
func logout(token, lines string) string {
	return "POST /v1/auth/logout HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer " + token + "\r\n" + lines + "\r\n"
}

// controlBytes are the bytes no header value may hold: the C0 controls but
// HTAB and LF (which ends the line), and DEL.
func controlBytes() []byte {
	var out []byte
	for b := range byte(0x20) {
		if b != '\t' && b != '\n' {
			out = append(out, b)
		}
	}
	return append(out, 0x7f)
}

func TestAControlByteInAnyHeaderValueGetsThePlain400(t *testing.T) {
	t.Parallel()
	st := gatewaytest.NewStack(t)
	addr := serveRaw(t, st)
	token := st.Login(t, "sess-1", "user-1")
	t.Run("each", func(t *testing.T) {
		for _, b := range controlBytes() {
			for _, name := range []string{"Host", "Authorization", "Content-Type", "Traceparent", "User-Agent", "X-Anything"} {
				t.Run(fmt.Sprintf("%#02x in %s", b, name), func(t *testing.T) {
					t.Parallel()
					values := map[string]string{"Host": "gateway", "Authorization": "Bearer " + token}
					values[name] += "a" + string(b) + "b"
					order := []string{"Host", "Authorization"}
					if !slices.Contains(order, name) {
						order = append(order, name)
					}
					req := "POST /v1/auth/logout HTTP/1.1\r\n"
					for _, h := range order {
						req += h + ": " + values[h] + "\r\n"
					}
					wantPlain(t, exchange(t, addr, req+"\r\n"), http.StatusBadRequest, "400 Bad Request")
				})
			}
		}
	})
	wantNoCalls(t, st)
}

func TestPlainAnswersOfTheHTTPServer(t *testing.T) {
	t.Parallel()
	const (
		bad      = "400 Bad Request"
		tooLarge = "431 Request Header Fields Too Large"
		version  = "505 HTTP Version Not Supported: unsupported protocol version"
		encoding = "Unsupported transfer encoding"
	)
	// The first bytes of a TLS ClientHello, as a client that took the port
	// for TLS sends them: the type of its supported_groups extension,
	// 0x000a, is a line feed, which ends what the server reads as a
	// request line.
	clientHello := "\x16\x03\x01\x00\xf8\x01\x00\x00\xf4\x03\x03" + strings.Repeat("\x5a", 32) + "\x00\x00\x0a\x00\x0a\x00\x04\x00\x1d\x00\x17"
	st := gatewaytest.NewStack(t)
	addr := serveRaw(t, st)
	token := st.Login(t, "sess-1", "user-1")
	tests := []struct {
		name   string
		req    string
		status int
		body   string
	}{
		{"request line without a version (HTTP/0.9)", "POST /v1/auth/logout\r\n\r\n", 400, bad},
		{"a space in the request-target", "POST /v1/auth/ logout HTTP/1.1\r\nHost: gateway\r\n\r\n", 400, bad},
		{"method not a token", "P(ST /v1/auth/logout HTTP/1.1\r\nHost: gateway\r\n\r\n", 400, bad},
		{"version without a minor", "POST /v1/auth/logout HTTP/1\r\nHost: gateway\r\n\r\n", 400, bad},
		{"version in lower case", "POST /v1/auth/logout http/1.1\r\nHost: gateway\r\n\r\n", 400, bad},
		{"version of two digits", "POST /v1/auth/logout HTTP/1.10\r\nHost: gateway\r\n\r\n", 400, bad},
		{"HTTP/0.9", "POST /v1/auth/logout HTTP/0.9\r\nHost: gateway\r\n\r\n", 505, version},
		{"HTTP/2.0 other than the preface", "POST /v1/auth/logout HTTP/2.0\r\nHost: gateway\r\n\r\n", 505, version},
		{"HTTP/3.0", "POST /v1/auth/logout HTTP/3.0\r\nHost: gateway\r\n\r\n", 505, version},
		{"a bad percent-escape", "POST /v1/auth/logout%zz HTTP/1.1\r\nHost: gateway\r\n\r\n", 400, bad},
		{"a target without its leading slash", "POST v1/auth/logout HTTP/1.1\r\nHost: gateway\r\n\r\n", 400, bad},
		{"a control byte in the target", "POST /v1/auth/logout\x7f HTTP/1.1\r\nHost: gateway\r\n\r\n", 400, bad},
		{"no Host", "POST /v1/auth/logout HTTP/1.1\r\nAuthorization: Bearer " + token + "\r\n\r\n", 400, "400 Bad Request: missing required Host header"},
		{"malformed Host", "POST /v1/auth/logout HTTP/1.1\r\nHost: gate/way\r\nAuthorization: Bearer " + token + "\r\n\r\n", 400, "400 Bad Request: malformed Host header"},
		{"two Hosts", logout(token, "Host: other\r\n"), 400, bad},
		{"a space before the colon", logout(token, "X-Anything : a\r\n"), 400, "400 Bad Request: invalid header name"},
		{"a space in a name", logout(token, "X Anything: a\r\n"), 400, "400 Bad Request: invalid header name"},
		{"a control byte in a name", logout(token, "X-\x01Anything: a\r\n"), 400, bad},
		{"a non-ASCII byte in a name", logout(token, "X-\xffAnything: a\r\n"), 400, bad},
		{"a line without a colon", logout(token, "X-Anything\r\n"), 400, bad},
		{"a header block that starts with white space", "POST /v1/auth/logout HTTP/1.1\r\n Host: gateway\r\nAuthorization: Bearer " + token + "\r\n\r\n", 400, bad},
		{"Content-Length not a number", logout(token, "Content-Length: two\r\n"), 400, bad},
		{"Content-Length negative", logout(token, "Content-Length: -1\r\n"), 400, bad},
		{"two Content-Lengths that differ", logout(token, "Content-Length: 1\r\nContent-Length: 2\r\n"), 400, bad},
		{"Transfer-Encoding gzip", logout(token, "Transfer-Encoding: gzip\r\n"), 501, encoding},
		{"Transfer-Encoding identity", logout(token, "Transfer-Encoding: identity\r\n"), 501, encoding},
		{"Transfer-Encoding of two codings", logout(token, "Transfer-Encoding: gzip, chunked\r\n"), 501, encoding},
		{"Transfer-Encoding twice", logout(token, "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 501, encoding},
		{"an Expect other than 100-continue", logout(token, "Expect: 200-ok\r\n"), 417, ""},
		{"header block of 20 KiB and a byte", logout(token, "X-Anything: "+strings.Repeat("a", headerPad(token, 20<<10+1))+"\r\n"), 431, tooLarge},
		{"header block of 64 KiB", logout(token, "X-Anything: "+strings.Repeat("a", 64<<10)+"\r\n"), 431, tooLarge},
		{"header block of 2 MiB", logout(token, "X-Anything: "+strings.Repeat("a", 2<<20)+"\r\n"), 431, tooLarge},
		{"header block of many short lines", logout(token, strings.Repeat("X-Anything: a\r\n", 2000)), 431, tooLarge},
		{"a TLS ClientHello", clientHello, 400, bad},
	}
	t.Run("each", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				wantPlain(t, exchange(t, addr, tt.req), tt.status, tt.body)
			})
		}
	})
	wantNoCalls(t, st)
}

// headerPad is the length of the X-Anything value that makes logout's
// request line and header block exactly n bytes long.
func headerPad(token string, n int) int {
	return n - len(logout(token, "X-Anything: \r\n"))
}

// TestTheHeaderLimitIsTwentyKiB serves a logout whose request line and
// header block take the most the server reads: MaxHeaderBytes and the 4 KiB
// net/http reads ahead. One byte more is the 431 above.
func TestTheHeaderLimitIsTwentyKiB(t *testing.T) {
	t.Parallel()
	st := gatewaytest.NewStack(t)
	addr := serveRaw(t, st)
	token := st.Login(t, "sess-1", "user-1")
	req := logout(token, "X-Anything: "+strings.Repeat("a", headerPad(token, 20<<10))+"\r\n")
	if len(req) != 20<<10 {
		t.Fatalf("request of %d bytes, want %d", len(req), 20<<10)
	}
	a := exchange(t, addr, req)
	if a.resp.StatusCode != http.StatusNoContent {
		t.Errorf("status = %d, want 204 (body %s)", a.resp.StatusCode, a.body)
	}
}

// TestExpectContinueIsAnsweredWhenTheBodyIsRead sends a login's headers with
// Expect: 100-continue and its body only after the interim answer.
func TestExpectContinueIsAnsweredWhenTheBodyIsRead(t *testing.T) {
	t.Parallel()
	addr := serveRaw(t, gatewaytest.NewStack(t))
	const body = `{"email":"user@example.com"}`
	conn := dialRaw(t, addr)
	br := bufio.NewReader(conn)
	head := fmt.Sprintf("POST /v1/auth/email/start HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatalf("write: %v", err)
	}
	if a := readAnswer(t, conn, br); a.resp.StatusCode != http.StatusContinue {
		t.Fatalf("interim answer = %d %q, want 100 Continue", a.resp.StatusCode, a.body)
	}
	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatalf("write: %v", err)
	}
	if a := readAnswer(t, conn, br); a.resp.StatusCode != http.StatusOK {
		t.Errorf("answer = %d %s, want 200", a.resp.StatusCode, a.body)
	}
}

// TestASlowHeaderBlockIsClosedWithoutAnAnswer starts a request and never
// ends its header block: the gateway closes the connection once the read
// header timeout has passed, sending nothing.
func TestASlowHeaderBlockIsClosedWithoutAnAnswer(t *testing.T) {
	t.Parallel()
	addr := serveRaw(t, gatewaytest.NewStack(t))
	conn := dialRaw(t, addr)
	start := time.Now()
	if _, err := io.WriteString(conn, "GET /v1/me HTTP/1.1\r\nHost: gateway\r\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, err := io.ReadAll(conn)
	if took := time.Since(start); err != nil || len(got) != 0 || took < 4*time.Second {
		t.Errorf("read %q, %v after %v; want nothing and the connection closed after 5 s", got, err, took.Round(time.Millisecond))
	}
}

// TestABodyStillMissingAtTheReadTimeoutIsInvalid sends a login's headers and
// only the first byte of its body: once the read timeout has passed since
// the request began, the login is refused as a body that could not be read,
// and the connection closed.
func TestABodyStillMissingAtTheReadTimeoutIsInvalid(t *testing.T) {
	t.Parallel()
	st := gatewaytest.NewStack(t)
	addr := serveRaw(t, st)
	conn := dialRaw(t, addr)
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	req := "POST /v1/auth/email/start HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n{"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatalf("write: %v", err)
	}
	a := readAnswer(t, conn, bufio.NewReader(conn))
	if took := time.Since(start); took < 9*time.Second {
		t.Errorf("answered after %v, want the read timeout of 10 s", took.Round(time.Millisecond))
	}
	wantAPIProblem(t, a, apierror.InvalidArgument)
	if !a.resp.Close || !a.closed {
		t.Errorf("Connection: close = %v, closed = %v; want the connection closed", a.resp.Close, a.closed)
	}
	wantNoCalls(t, st)
}
