package lifecycle_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"galaxy/platform/lifecycle"
)

// inheritedFD returns a duplicate of ln's socket, as a child process would
// inherit it, and closes ln: only the duplicate holds the socket.
func inheritedFD(t *testing.T, ln *net.TCPListener) int {
	t.Helper()
	f, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return handedOver(t, f)
}

// handedOver returns a new descriptor of f's file for Listen, which takes
// it over and closes it, and closes f. Handing Listen f's own descriptor
// would close that number twice, and between the two closes it can be a
// parallel test's socket.
func handedOver(t *testing.T, f *os.File) int {
	t.Helper()
	defer f.Close()
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

func TestListenServesAnInheritedSocketAndItsQueuedConnections(t *testing.T) {
	t.Parallel()
	bound, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := bound.Addr().String()
	fd := inheritedFD(t, bound)

	// A client that connects before anything serves waits in the queue.
	early, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial before the server took the socket: %v", err)
	}
	defer early.Close()

	ln, err := lifecycle.Listen("http", fmt.Sprintf("fd://%d", fd))
	if err != nil {
		t.Fatal(err)
	}
	if ln.Addr().String() != addr {
		t.Errorf("listener address %s, want the inherited socket's %s", ln.Addr(), addr)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "served") }), ReadHeaderTimeout: time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	early.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(early, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(early), nil)
	if err != nil {
		t.Fatalf("the queued connection got no answer: %v", err)
	}
	defer resp.Body.Close()
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || string(body) != "served" {
		t.Errorf("queued connection: %d %q, want 200 %q", resp.StatusCode, body, "served")
	}
}

// TestListenRefusesWhatIsNoInheritedListener does not run in parallel:
// the number of its closed descriptor would be free for a parallel test's
// next socket, which Listen would then take over.
func TestListenRefusesWhatIsNoInheritedListener(t *testing.T) {
	regular, err := os.Create(filepath.Join(t.TempDir(), "file"))
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()

	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	udpFile, err := udp.File()
	udp.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer udpFile.Close()

	unlistened, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(unlistened)
	if err := syscall.Bind(unlistened, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}

	closed, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	closedFD := int(closed.Fd())
	closed.Close()

	for _, tc := range []struct {
		what string
		fd   int
		want string
	}{
		{"a regular file", int(regular.Fd()), "socket operation on non-socket"},
		{"a UDP socket", int(udpFile.Fd()), "not a stream socket"},
		{"a bound TCP socket that does not listen", unlistened, "not listening"},
		{"a closed descriptor", closedFD, "bad file descriptor"},
	} {
		ln, err := lifecycle.Listen("grpc", fmt.Sprintf("fd://%d", tc.fd))
		if err == nil {
			ln.Close()
			t.Errorf("%s: Listen succeeded, want an error", tc.what)
			continue
		}
		if !strings.Contains(err.Error(), "listen grpc on inherited fd") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want it to name the listener and say %q", tc.what, err, tc.want)
		}
	}
	if _, err := lifecycle.Listen("grpc", "fd://1"); err == nil || !strings.Contains(err.Error(), "standard streams") {
		t.Errorf(`Listen("fd://1"): %v, want the standard streams refused`, err)
	}
}

func TestListenRefusesAnInheritedUnixSocket(t *testing.T) {
	t.Parallel()
	unix, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "s"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := unix.File()
	unix.Close()
	if err != nil {
		t.Fatal(err)
	}
	if ln, err := lifecycle.Listen("http", fmt.Sprintf("fd://%d", handedOver(t, f))); err == nil {
		ln.Close()
		t.Fatal("Listen took a Unix socket, want an error")
	} else if !strings.Contains(err.Error(), "a unix socket, want a TCP one") {
		t.Errorf("error %q, want it to say the socket is not TCP", err)
	}
}
