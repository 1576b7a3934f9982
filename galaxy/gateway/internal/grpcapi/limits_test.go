package grpcapi_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"galaxy/gateway/api/gatewayv1"
	"galaxy/gateway/internal/gatewaytest"
	"galaxy/gateway/internal/grpcapi"
	"galaxy/platform/grpcserver"
)

// oversized is a metadata value past the server's header list limit.
var oversized = strings.Repeat("a", grpcserver.MaxHeaderListSize+1)

// TestMetadataSizeLimit checks that a call whose metadata exceeds 16 KiB is
// refused at once and reaches neither the handler nor authsession. grpc-go
// learns the limit from the server's SETTINGS and refuses the call itself
// with INTERNAL ("header list size to send violates the maximum size").
func TestMetadataSizeLimit(t *testing.T) {
	t.Parallel()
	st, c := newStack(t)
	ctx := metadata.AppendToOutgoingContext(t.Context(), "x-padding", oversized)
	start := time.Now()
	_, err := c.client.StartEmailLogin(ctx, &gatewayv1.StartEmailLoginRequest{Email: "a@b.c"})
	if got := status.Code(err); got != codes.Internal {
		t.Errorf("oversized metadata: code = %s, want Internal (%v)", got, err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("oversized metadata refused after %v, want at once", elapsed)
	}
	if calls := st.Auth.Calls(); len(calls) != 0 {
		t.Errorf("authsession calls = %q, want none", calls)
	}
	if logs := c.logs.String(); strings.Contains(logs, `"msg":"grpc call"`) {
		t.Errorf("the handler ran for oversized metadata:\n%s", logs)
	}
	// The connection still serves calls within the limit.
	if _, err := c.client.StartEmailLogin(t.Context(), &gatewayv1.StartEmailLoginRequest{Email: "a@b.c"}); err != nil {
		t.Errorf("call after the refused one: error = %v", err)
	}
}

// h2Conn is a bare HTTP/2 connection to the gRPC server, for a client that
// does not honour the server's settings.
type h2Conn struct {
	*http2.Framer
	settings map[http2.SettingID]uint32 // the server's initial settings
}

func dialH2(t *testing.T) *h2Conn {
	t.Helper()
	st := gatewaytest.NewStack(t)
	srv, err := grpcapi.NewServer(st.Service, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second)) // a hang fails the test
	if _, err := nc.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatalf("write preface: %v", err)
	}
	c := &h2Conn{Framer: http2.NewFramer(nc, nc), settings: map[http2.SettingID]uint32{}}
	if err := c.WriteSettings(); err != nil {
		t.Fatalf("write settings: %v", err)
	}
	f, err := c.ReadFrame()
	if err != nil {
		t.Fatalf("read server settings: %v", err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		t.Fatalf("first server frame = %v, want its SETTINGS", f)
	}
	sf.ForeachSetting(func(s http2.Setting) error { c.settings[s.ID] = s.Val; return nil })
	if err := c.WriteSettingsAck(); err != nil {
		t.Fatalf("ack settings: %v", err)
	}
	return c
}

// call opens stream id with a StartEmailLogin request whose headers include
// extra, split into frames of at most the default frame size.
func (c *h2Conn) call(t *testing.T, id uint32, extra ...hpack.HeaderField) {
	t.Helper()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range append([]hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: "/galaxy.gateway.v1.GatewayService/StartEmailLogin"},
		{Name: ":authority", Value: "gateway"}, {Name: "content-type", Value: "application/grpc"},
		{Name: "te", Value: "trailers"},
	}, extra...) {
		enc.WriteField(f)
	}
	const chunk = 16 << 10 // SETTINGS_MAX_FRAME_SIZE's default
	b := block.Bytes()
	first := b[:min(chunk, len(b))]
	b = b[len(first):]
	if err := c.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndHeaders: len(b) == 0}); err != nil {
		t.Fatalf("write headers: %v", err)
	}
	for len(b) > 0 {
		next := b[:min(chunk, len(b))]
		b = b[len(next):]
		if err := c.WriteContinuation(id, len(b) == 0, next); err != nil {
			t.Fatalf("write continuation: %v", err)
		}
	}
}

// TestMetadataSizeLimitIsEnforced checks the limit against a client that
// ignores the advertised settings: the server never serves the call nor
// hangs. Metadata over the limit in total gets the stream reset
// (FRAME_SIZE_ERROR, which a grpc-go client reports as INTERNAL) and the
// connection kept; a single value over the limit cannot be decoded and costs
// the connection (COMPRESSION_ERROR).
func TestMetadataSizeLimitIsEnforced(t *testing.T) {
	t.Parallel()
	var many []hpack.HeaderField
	for i := range 5 {
		many = append(many, hpack.HeaderField{Name: fmt.Sprintf("x-padding-%d", i), Value: strings.Repeat("a", 4<<10)})
	}
	tests := []struct {
		name      string
		metadata  []hpack.HeaderField
		wantReset bool // else the connection closes
	}{
		{"values over the limit together", many, true},
		{"one value over the limit", []hpack.HeaderField{{Name: "x-padding", Value: oversized}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := dialH2(t)
			if got := c.settings[http2.SettingMaxHeaderListSize]; got != grpcserver.MaxHeaderListSize {
				t.Errorf("SETTINGS_MAX_HEADER_LIST_SIZE = %d, want %d", got, grpcserver.MaxHeaderListSize)
			}
			if got := c.settings[http2.SettingMaxConcurrentStreams]; got != grpcserver.MaxConcurrentStreams {
				t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d, want %d", got, grpcserver.MaxConcurrentStreams)
			}
			c.call(t, 1, tt.metadata...)
			if tt.wantReset {
				c.wantReset(t, 1)
			} else {
				c.wantClosed(t)
			}
		})
	}
}

// wantReset reads frames until stream id is reset with FRAME_SIZE_ERROR, then
// checks that the connection still answers a PING.
func (c *h2Conn) wantReset(t *testing.T, id uint32) {
	t.Helper()
	for reset := false; ; {
		f, err := c.ReadFrame()
		if err != nil {
			t.Fatalf("read frame: %v (want RST_STREAM on stream %d, then a PING answer)", err, id)
		}
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			if f.StreamID != id || f.ErrCode != http2.ErrCodeFrameSize {
				t.Fatalf("RST_STREAM %d %v, want stream %d FRAME_SIZE_ERROR", f.StreamID, f.ErrCode, id)
			}
			reset = true
			if err := c.WritePing(false, [8]byte{1}); err != nil {
				t.Fatalf("write ping: %v", err)
			}
		case *http2.PingFrame:
			if reset && f.IsAck() && f.Data == [8]byte{1} {
				return
			}
		case *http2.HeadersFrame:
			t.Fatalf("the server answered stream %d: oversized metadata was served", f.StreamID)
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v, want the stream reset and the connection kept", f.ErrCode)
		}
	}
}

// wantClosed reads frames until the server closes the connection, answering
// no stream on the way.
func (c *h2Conn) wantClosed(t *testing.T) {
	t.Helper()
	for {
		f, err := c.ReadFrame()
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return
		}
		if err != nil {
			t.Fatalf("read frame: %v (want the connection closed)", err)
		}
		if h, ok := f.(*http2.HeadersFrame); ok {
			t.Fatalf("the server answered stream %d: oversized metadata was served", h.StreamID)
		}
	}
}
