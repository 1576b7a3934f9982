// Command racy has one data race, for the harness's race-report tests
// (tests/harness/test_process.py): built with -race, it writes the race
// detector's report to stderr among JSON log lines, two of which hold the
// detector's marker text, escaped as any text in a JSON log line is.
package main

import (
	"log/slog"
	"os"
	"sync"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	log.Info("http request", "path", "/WARNING: DATA RACE")
	log.Info("note", "text", "==================\nWARNING: DATA RACE\n==================")

	var counter int
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counter++ // the race: two goroutines write it unsynchronised
		}()
	}
	wg.Wait()
	log.Info("done", "counter", counter)
}
