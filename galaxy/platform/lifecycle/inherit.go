package lifecycle

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// inherited takes over the listening TCP socket at file descriptor fd,
// bound by the process that started this one (see envconfig.ListenAddr).
// Connections already queued on it are served once the server accepts.
func inherited(name string, fd int) (net.Listener, error) {
	fail := func(err error) (net.Listener, error) {
		return nil, fmt.Errorf("listen %s on inherited fd %d: %w", name, fd, err)
	}
	if err := checkListening(fd); err != nil {
		return fail(err)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("inherited %s listener", name))
	defer f.Close() // the listener holds a duplicate
	ln, err := net.FileListener(f)
	if err != nil {
		return fail(err)
	}
	if _, ok := ln.(*net.TCPListener); !ok {
		ln.Close()
		return fail(fmt.Errorf("a %s socket, want a TCP one", ln.Addr().Network()))
	}
	return ln, nil
}

// checkListening fails unless fd is a stream socket that listens: a socket
// that is bound but not listening would otherwise be found only by the
// first accept, after the ready file was written.
func checkListening(fd int) error {
	typ, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE)
	if err != nil {
		return err // EBADF: not open; ENOTSOCK: not a socket
	}
	if typ != syscall.SOCK_STREAM {
		return errors.New("not a stream socket, want a listening TCP one")
	}
	accepting, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN)
	if err != nil {
		return fmt.Errorf("cannot tell whether it listens: %w", err)
	}
	if accepting == 0 {
		return errors.New("the socket is not listening (bound, but listen(2) was never called)")
	}
	return nil
}
