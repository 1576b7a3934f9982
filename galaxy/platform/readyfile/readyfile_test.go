package readyfile_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"galaxy/platform/readyfile"
)

func TestWriteThenRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "ready.json")
	want := readyfile.Document{Service: "svc", PID: 42, Addresses: map[string]string{"grpc": "127.0.0.1:1234"}}
	if err := readyfile.Write(path, want); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got, err := readyfile.Read(path)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Read() = %+v, want %+v", got, want)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the ready file (no temporary left)", len(entries))
	}
}

func TestWriteIntoMissingDirectoryFails(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "missing", "ready.json")
	if err := readyfile.Write(path, readyfile.Document{}); err == nil {
		t.Fatal("Write() into a missing directory succeeded, want an error")
	}
}
