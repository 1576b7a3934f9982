// Package histcheck judges a recorded history of concurrent calls to a
// session service against the session model of contracts/tokens.md: it
// reads the JSON-lines history written by harness/robustness/history.py,
// partitions it by login challenge (one challenge opens at most one session),
// checks each partition for linearizability with porcupine, shrinks a failing
// partition to the fewest operations that still break the model, and draws
// porcupine's visualization of it.
package histcheck

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
)

// Format is the newest history format this package reads.
const Format = 1

// Never is the completion time of an operation whose answer was not received:
// it may take effect at any time after its invoke.
const Never = math.MaxInt64

// Params are what the history's header says about the run.
type Params struct {
	RetryGraceNs int64 `json:"retry_grace_ns"` // AUTHSESSION_RETRY_GRACE of the run
	ClockSlackNs int64 `json:"clock_slack_ns"` // how far the services' clocks may stand from the recorder's
}

// Operation is an invoke with its completion.
type Operation struct {
	ID     int
	Client int
	Op     string
	Input  map[string]any
	Status string // "ok", "fail" or "unknown"
	Output map[string]any
	Call   int64
	Return int64 // Never when the answer was not received
}

// History is a run's header and operations.
type History struct {
	Seed       any
	Params     Params
	Operations []*Operation
}

type line struct {
	Type   string          `json:"type"`
	Format int             `json:"format"`
	Seed   any             `json:"seed"`
	Params json.RawMessage `json:"params"`
	ID     int             `json:"id"`
	Client int             `json:"client"`
	Op     string          `json:"op"`
	T      int64           `json:"t"`
	Input  map[string]any  `json:"input"`
	Output map[string]any  `json:"output"`
}

// ReadHistory reads a history; a line that breaks the format is an error naming it.
func ReadHistory(r io.Reader) (*History, error) {
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	var h *History
	byID := map[int]*Operation{}
	number := 0
	for scanner.Scan() {
		number++
		if len(scanner.Bytes()) == 0 {
			continue
		}
		var l line
		if err := json.Unmarshal(scanner.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("line %d: %w", number, err)
		}
		if h == nil {
			if l.Type != "history" {
				return nil, fmt.Errorf("line %d: the first line must be the history header, not %q", number, l.Type)
			}
			if l.Format < 1 || l.Format > Format {
				return nil, fmt.Errorf("line %d: history format %d; this checker reads 1 to %d", number, l.Format, Format)
			}
			h = &History{Seed: l.Seed}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(l.Params, &raw); err != nil || raw["retry_grace_ns"] == nil {
				return nil, fmt.Errorf("line %d: the header's params must state retry_grace_ns", number)
			}
			if err := json.Unmarshal(l.Params, &h.Params); err != nil {
				return nil, fmt.Errorf("line %d: params: %w", number, err)
			}
			continue
		}
		switch l.Type {
		case "invoke":
			if byID[l.ID] != nil {
				return nil, fmt.Errorf("line %d: operation %d invoked twice", number, l.ID)
			}
			op := &Operation{ID: l.ID, Client: l.Client, Op: l.Op, Input: l.Input, Status: "unknown", Call: l.T, Return: Never}
			byID[l.ID] = op
			h.Operations = append(h.Operations, op)
		case "ok", "fail", "unknown":
			op := byID[l.ID]
			if op == nil {
				return nil, fmt.Errorf("line %d: operation %d completes before its invoke", number, l.ID)
			}
			if op.Output != nil {
				return nil, fmt.Errorf("line %d: operation %d completes twice", number, l.ID)
			}
			op.Status, op.Output = l.Type, l.Output
			if op.Output == nil {
				op.Output = map[string]any{}
			}
			if l.Type != "unknown" {
				op.Return = l.T
			}
		case "evidence":
		default:
			return nil, fmt.Errorf("line %d: unknown line type %q", number, l.Type)
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("empty history: no header")
	}
	sort.SliceStable(h.Operations, func(i, j int) bool { return h.Operations[i].Call < h.Operations[j].Call })
	return h, nil
}

// Error is the stable error code of a failed operation ("" for none).
func (op *Operation) Error() string {
	return str(op.Output, "error")
}

// Indeterminate reports whether the call may or may not have taken effect:
// no answer, or DEPENDENCY_UNAVAILABLE, which contracts/errors.md says may
// come from a call that was carried out.
func (op *Operation) Indeterminate() bool {
	return op.Status == "unknown" || op.Status == "fail" && op.Error() == "DEPENDENCY_UNAVAILABLE"
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func strs(m map[string]any, key string) []string {
	items, _ := m[key].([]any)
	out := make([]string, 0, len(items))
	for _, item := range items {
		if s, ok := item.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
