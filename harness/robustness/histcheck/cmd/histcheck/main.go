// Command histcheck judges a recorded history against the session model:
//
//	histcheck [-html DIR] [-timeout 60s] [-shrink=false] HISTORY
//
// It prints the report as JSON and exits 0 when every partition is
// linearizable, 1 when one is not, 3 when a check timed out (and none
// failed), 2 on a bad history or usage.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"histcheck"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("histcheck", flag.ContinueOnError)
	flags.SetOutput(stderr)
	html := flags.String("html", "", "write porcupine's visualization of each failing partition into this directory")
	timeout := flags.Duration("timeout", time.Minute, "bound of each partition's check (0: none)")
	shrink := flags.Bool("shrink", true, "shrink each failing partition to its fewest operations that still fail")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: histcheck [-html DIR] [-timeout D] [-shrink=false] HISTORY (- for stdin)")
		return 2
	}
	in := stdin
	if path := flags.Arg(0); path != "-" {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(stderr, "histcheck:", err)
			return 2
		}
		defer f.Close()
		in = f
	}
	h, err := histcheck.ReadHistory(in)
	if err != nil {
		fmt.Fprintln(stderr, "histcheck:", err)
		return 2
	}
	report, err := histcheck.Check(h, histcheck.Options{Timeout: *timeout, HTMLDir: *html, Shrink: *shrink})
	if err != nil {
		fmt.Fprintln(stderr, "histcheck:", err)
		return 2
	}
	out := json.NewEncoder(stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(report); err != nil {
		fmt.Fprintln(stderr, "histcheck:", err)
		return 2
	}
	switch report.Result {
	case "illegal":
		return 1
	case "unknown":
		return 3
	}
	return 0
}
