package gatewaytest

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Servers that fail the way a dependency or the network between fails, for
// either dependency (Redis or authsession) where the fault is below the
// protocol, and for authsession where it is in HTTP/2.

// SilentAddr returns the address of a server that accepts connections and
// never answers on them, as a frozen (SIGSTOPped) process whose kernel still
// completes the handshake, or a blackholed link, looks to its callers.
func SilentAddr(tb testing.TB) string {
	tb.Helper()
	return faultServer(tb, func(conn net.Conn, done <-chan struct{}) {
		<-done
	})
}

// ResettingAddr returns the address of a server that resets every
// connection (TCP RST) as soon as it is accepted, as a crashing process or
// a proxy cutting the link does.
func ResettingAddr(tb testing.TB) string {
	tb.Helper()
	return faultServer(tb, func(conn net.Conn, _ <-chan struct{}) {
		reset(conn)
	})
}

// HTTP2Fault is how an HTTP/2 fault server answers each request.
type HTTP2Fault int

const (
	// RSTStream resets each stream with RST_STREAM INTERNAL_ERROR, which
	// gRPC clients see as INTERNAL without details.
	RSTStream HTTP2Fault = iota
	// GoAway sends GOAWAY and closes the connection once a request arrives,
	// as a server going away mid-call does.
	GoAway
	// ProxyError answers an HTTP 500 text/html page, as a proxy in front of
	// a dead backend does; gRPC clients see UNKNOWN.
	ProxyError
	// ResetAfterRequest resets the connection (TCP RST) once a request
	// arrives.
	ResetAfterRequest
)

// HTTP2FaultAddr returns the address of an HTTP/2 server that completes the
// connection preface and then answers every request with fault.
func HTTP2FaultAddr(tb testing.TB, fault HTTP2Fault) string {
	tb.Helper()
	return faultServer(tb, func(conn net.Conn, _ <-chan struct{}) {
		serveHTTP2Fault(conn, fault)
	})
}

func serveHTTP2Fault(conn net.Conn, fault HTTP2Fault) {
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(conn, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		return
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				fr.WritePing(true, f.Data)
			}
		case *http2.MetaHeadersFrame:
			id := f.Header().StreamID
			switch fault {
			case RSTStream:
				fr.WriteRSTStream(id, http2.ErrCodeInternal)
			case GoAway:
				fr.WriteGoAway(id, http2.ErrCodeNo, nil)
				return
			case ProxyError:
				var block bytes.Buffer
				enc := hpack.NewEncoder(&block)
				enc.WriteField(hpack.HeaderField{Name: ":status", Value: "500"})
				enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "text/html"})
				fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndHeaders: true})
				fr.WriteData(id, true, []byte("<html><body>502 Bad Gateway</body></html>"))
			case ResetAfterRequest:
				reset(conn)
				return
			}
		}
	}
}

// reset closes conn with a TCP RST rather than a FIN.
func reset(conn net.Conn) {
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.SetLinger(0)
	}
	conn.Close()
}

// faultServer serves each connection on a loopback port with handle until
// the test ends; done closes then, and every connection is closed.
func faultServer(tb testing.TB, handle func(conn net.Conn, done <-chan struct{})) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				stop := make(chan struct{})
				defer close(stop)
				go func() {
					select {
					case <-done:
						conn.Close() // unblocks handle's reads
					case <-stop:
					}
				}()
				handle(conn, done)
			})
		}
	})
	tb.Cleanup(func() {
		close(done)
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// DeadAddr returns a loopback address nothing listens on, for the rest of
// the test: a socket is bound to it and never listens, so a connection is
// refused, and (bound without SO_REUSEADDR) no server of a test running
// beside this one can take the port meanwhile.
func DeadAddr(tb testing.TB) string {
	tb.Helper()
	addr, _ := DeadAddrUntilFreed(tb)
	return addr
}

// DeadAddrUntilFreed is DeadAddr for a test that later brings a server up
// on the address: free (idempotent) lets the port go just before.
func DeadAddrUntilFreed(tb testing.TB) (addr string, free func()) {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatalf("socket: %v", err)
	}
	var once sync.Once
	free = func() { once.Do(func() { syscall.Close(fd) }) }
	tb.Cleanup(free)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatalf("bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		tb.Fatalf("getsockname: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)), free
}
