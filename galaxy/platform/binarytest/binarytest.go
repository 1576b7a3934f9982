// Package binarytest runs a galaxy binary as the harness runs it, for the
// cmd tests of what only a real process shows: the ready file with its own
// pid, every line on stderr JSON of the binary, the exit code and the last
// line after SIGTERM. The binary is the cmd package under test, built once
// per test binary.
package binarytest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"galaxy/platform/logging/logtest"
	"galaxy/platform/readyfile"
	"galaxy/platform/testwait"
)

// buildDir holds the binary Start built; Run removes it.
var buildDir string

// built is the binary of the package under test, built at its first use.
var built = sync.OnceValues(func() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "binarytest")
	if err != nil {
		return "", err
	}
	buildDir = dir
	binary := filepath.Join(dir, filepath.Base(wd))
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return binary, nil
})

// Run runs the tests (m.Run) and removes the binary Start built; a cmd
// package's TestMain ends with os.Exit(binarytest.Run(m)).
func Run(m *testing.M) int {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	return code
}

// Process is the binary run by Start.
type Process struct {
	Cmd    *exec.Cmd
	Doc    readyfile.Document // its ready file
	Stderr *logtest.Buffer    // everything it wrote there
	done   chan error         // its exit
}

// Start builds the package under test (once for every test of the test
// binary), runs it with env, PATH and readyVar (its <SERVICE>_READY_FILE)
// set to a file of the test's own, and waits for that ready file: the
// test fails when the process exits first or writes none within 10 s. A
// process still running when the test ends is killed.
func Start(tb testing.TB, readyVar string, env map[string]string) *Process {
	tb.Helper()
	binary, err := built()
	if err != nil {
		tb.Fatalf("build: %v", err)
	}
	ready := filepath.Join(tb.TempDir(), "ready.json")
	p := &Process{Cmd: exec.Command(binary), Stderr: &logtest.Buffer{}, done: make(chan error, 1)}
	p.Cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		if k != readyVar {
			p.Cmd.Env = append(p.Cmd.Env, k+"="+v)
		}
	}
	p.Cmd.Env = append(p.Cmd.Env, readyVar+"="+ready)
	p.Cmd.Stderr = p.Stderr
	if err := p.Cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", binary, err)
	}
	go func() { p.done <- p.Cmd.Wait() }()
	tb.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.Cmd.Process.Kill()
			<-p.done
		}
	})
	p.Doc = testwait.ReadyFile(tb, ready, 10*time.Second, p.done, p.Stderr)
	return p
}

// Terminate sends SIGTERM and returns the exit code (Wait).
func (p *Process) Terminate(tb testing.TB, within time.Duration) int {
	tb.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatalf("SIGTERM: %v", err)
	}
	return p.Wait(tb, within)
}

// Wait returns the exit code, failing the test unless the process ends
// within the given time.
func (p *Process) Wait(tb testing.TB, within time.Duration) int {
	tb.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for a later Wait and the cleanup
		return p.Cmd.ProcessState.ExitCode()
	case <-time.After(within):
		tb.Fatalf("still running after %v; stderr:\n%s", within, p.Stderr)
		return -1
	}
}

// LastLine is the last line the process logged, as JSON; the test fails
// for every line that is no JSON of service (its "service" attribute).
func (p *Process) LastLine(tb testing.TB, service string) map[string]any {
	tb.Helper()
	var last map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.Stderr.String()))
	for sc.Scan() {
		last = nil
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			tb.Errorf("stderr line %q is not JSON", sc.Text())
		} else if last["service"] != service {
			tb.Errorf("log line %q lacks service=%s", sc.Text(), service)
		}
	}
	return last
}
