package lifecycle_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"

	"galaxy/platform/lifecycle"
	"galaxy/platform/readyfile"
)

func TestRunPublishesAddressesAndShutsDown(t *testing.T) {
	t.Parallel()
	httpLn, err := lifecycle.Listen("http", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grpcLn, err := lifecycle.Listen("grpc", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	servers := []lifecycle.Server{
		lifecycle.HTTP("http", httpLn, &http.Server{Handler: handler}),
		lifecycle.GRPC("grpc", grpcLn, grpc.NewServer()),
	}
	ready := filepath.Join(t.TempDir(), "ready.json")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- lifecycle.Run(ctx, lifecycle.Options{
			Service: "test", ReadyFile: ready, ShutdownTimeout: time.Second,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		}, servers...)
	}()

	var doc readyfile.Document
	deadline := time.Now().Add(5 * time.Second)
	for {
		if doc, err = readyfile.Read(ready); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil {
		t.Fatalf("ready file never appeared: %v", err)
	}
	if doc.PID != os.Getpid() || doc.Addresses["http"] != httpLn.Addr().String() || doc.Addresses["grpc"] != grpcLn.Addr().String() {
		t.Fatalf("ready file = %+v, want pid %d and the bound addresses", doc, os.Getpid())
	}
	resp, err := http.Get("http://" + doc.Addresses["http"])
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	resp.Body.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run() = %v, want nil after cancellation", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run() did not return after cancellation")
	}
	if _, err := http.Get("http://" + doc.Addresses["http"]); err == nil {
		t.Fatal("HTTP server still answers after shutdown")
	}
}

func TestListenReportsAddressInUse(t *testing.T) {
	t.Parallel()
	ln, err := lifecycle.Listen("http", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := lifecycle.Listen("http", ln.Addr().String()); err == nil {
		t.Fatal("second Listen on a bound address succeeded, want an error")
	}
}
