package httpapi_test

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"galaxy/gateway/internal/gatewaytest"
	"galaxy/gateway/internal/httpapi"
	"galaxy/platform/httpserver"
)

// serveRaw serves the HTTP API over st with the gateway's own server
// settings and returns its address, for requests written byte by byte.
func serveRaw(t *testing.T, st *gatewaytest.Stack) string {
	t.Helper()
	h, err := httpapi.New(st.Service, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := httpserver.NewServer(h, slog.New(slog.DiscardHandler), time.Second)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// rawAnswer is what the gateway sent back on a connection of its own.
type rawAnswer struct {
	resp   *http.Response
	body   []byte
	closed bool // the gateway closed the connection after the answer
}

// exchange writes raw to a new connection to addr and reads one answer
// (an interim 1xx answer counts as one); when the answer says
// Connection: close, it also reads on to see the connection closed.
func exchange(t *testing.T, addr, raw string) rawAnswer {
	t.Helper()
	conn := dialRaw(t, addr)
	go func() { _, _ = io.WriteString(conn, raw) }() // a request over the limit is not read to its end
	return readAnswer(t, conn, bufio.NewReader(conn))
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn
}

func readAnswer(t *testing.T, conn net.Conn, br *bufio.Reader) rawAnswer {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	a := rawAnswer{resp: resp, body: body}
	if resp.Close {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := br.ReadByte()
		a.closed = errors.Is(err, io.EOF)
	}
	return a
}
