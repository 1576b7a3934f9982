package histcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Options of a check.
type Options struct {
	Timeout time.Duration // per partition and check (0: none); past it the result is "unknown"
	HTMLDir string        // where porcupine's visualization of each failing partition goes ("": none)
	Shrink  bool          // shrink each failing partition to its fewest operations that still fail
}

// PartitionResult is one partition's verdict.
type PartitionResult struct {
	Key        string   `json:"key"`
	SessionID  string   `json:"session_id"`
	UserID     string   `json:"user_id"`
	Result     string   `json:"result"` // "ok", "illegal" or "unknown" (timed out)
	Operations []int    `json:"operations"`
	Minimal    []int    `json:"minimal,omitempty"` // a failing partition's fewest operations that still fail
	Story      []string `json:"story,omitempty"`   // those operations, each described, by invoke time
	// Visualization is porcupine's page of the minimal operations, FullVisualization of the whole partition.
	Visualization     string `json:"visualization,omitempty"`
	FullVisualization string `json:"full_visualization,omitempty"`
}

// Report is the verdict on a history.
type Report struct {
	Result       string            `json:"result"` // "ok", "illegal" or "unknown"
	Seed         any               `json:"seed"`
	Operations   int               `json:"operations"`
	Partitions   []PartitionResult `json:"partitions"`
	Unattributed []int             `json:"unattributed"`
	CheckSeconds float64           `json:"check_seconds"`
}

// Failing lists the partitions that broke the model.
func (r Report) Failing() []PartitionResult {
	var out []PartitionResult
	for _, p := range r.Partitions {
		if p.Result == "illegal" {
			out = append(out, p)
		}
	}
	return out
}

// operations turns steps into porcupine's operations; an operation that may
// have taken effect after its answer (or had none) never returns.
func operations(steps []Step) []porcupine.Operation {
	clients := map[int]int{}
	for _, st := range steps {
		if _, ok := clients[st.Op.Client]; !ok {
			clients[st.Op.Client] = len(clients)
		}
	}
	out := make([]porcupine.Operation, len(steps))
	for i, st := range steps {
		ret := st.Op.Return
		if st.Op.Indeterminate() {
			ret = Never
		}
		out[i] = porcupine.Operation{ClientId: clients[st.Op.Client], Input: st, Call: st.Op.Call, Return: ret}
	}
	return out
}

func verdict(r porcupine.CheckResult) string {
	switch r {
	case porcupine.Ok:
		return "ok"
	case porcupine.Illegal:
		return "illegal"
	}
	return "unknown"
}

// Check judges every partition of h.
func Check(h *History, opts Options) (Report, error) {
	started := time.Now()
	model := Model(h.Params)
	parts, unattributed := Partitions(h)
	report := Report{Result: "ok", Seed: h.Seed, Operations: len(h.Operations), Unattributed: unattributed}
	if report.Unattributed == nil {
		report.Unattributed = []int{}
	}
	for _, part := range parts {
		result, info := porcupine.CheckOperationsVerbose(model, operations(part.Steps), opts.Timeout)
		pr := PartitionResult{
			Key: part.Key, SessionID: part.SessionID, UserID: part.UserID,
			Result: verdict(result), Operations: ids(part.Steps),
		}
		if result == porcupine.Illegal {
			minimal := part.Steps
			if opts.Shrink {
				minimal = shrinkPartition(model, part.Steps, culprit(part.Steps, info), opts.Timeout)
			}
			pr.Minimal = ids(minimal)
			pr.Story = story(minimal)
			if opts.HTMLDir != "" {
				if err := os.MkdirAll(opts.HTMLDir, 0o755); err != nil {
					return report, err
				}
				name := filepath.Join(opts.HTMLDir, fileName(part.Key))
				_, minimalInfo := porcupine.CheckOperationsVerbose(model, operations(minimal), opts.Timeout)
				if err := porcupine.VisualizePath(model, minimalInfo, name+".html"); err != nil {
					return report, fmt.Errorf("visualization of %s: %w", part.Key, err)
				}
				if err := porcupine.VisualizePath(model, info, name+".full.html"); err != nil {
					return report, fmt.Errorf("visualization of %s: %w", part.Key, err)
				}
				pr.Visualization, pr.FullVisualization = name+".html", name+".full.html"
			}
		}
		switch {
		case pr.Result == "illegal":
			report.Result = "illegal"
		case pr.Result == "unknown" && report.Result == "ok":
			report.Result = "unknown"
		}
		report.Partitions = append(report.Partitions, pr)
	}
	if report.Partitions == nil {
		report.Partitions = []PartitionResult{}
	}
	report.CheckSeconds = time.Since(started).Seconds()
	return report, nil
}

func story(steps []Step) []string {
	sorted := append([]Step(nil), steps...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Op.Call < sorted[j].Op.Call })
	out := make([]string, len(sorted))
	for i, st := range sorted {
		out[i] = fmt.Sprintf("#%d client %d: %s", st.Op.ID, st.Op.Client, Describe(st))
	}
	return out
}

func fileName(key string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, key)
}

// culprit is the step no linearization could place: of those missing from
// porcupine's longest partial linearization, the first to be answered. Nil
// when none was answered (an unanswered call can always come later).
func culprit(steps []Step, info porcupine.LinearizationInfo) *Operation {
	partials := info.PartialLinearizations()
	if len(partials) == 0 || len(partials[0]) == 0 {
		return nil
	}
	placed := map[int]bool{}
	for _, i := range partials[0][0] {
		placed[i] = true
	}
	var found *Operation
	for i, st := range steps {
		op := st.Op
		if placed[i] || op.Indeterminate() {
			continue
		}
		if found == nil || op.Return < found.Return || op.Return == found.Return && op.ID < found.ID {
			found = op
		}
	}
	return found
}

// shrinkPartition finds the fewest steps that still break the model the way
// the whole partition does: the culprit stays, it is what no linearization
// explains (without it, the rest is linearizable), and the answers it could
// have given without breaking the model are the same as in the whole
// partition. A sub-history that fails only because it lost the call that
// explained an answer (a logout behind an UNAUTHENTICATED, a rotation that
// made a token a replay) tells another story, and is not taken.
func shrinkPartition(model porcupine.Model, steps []Step, blame *Operation, timeout time.Duration) []Step {
	whole := withProviders(steps)
	illegal := func(steps []Step) bool {
		return porcupine.CheckOperationsTimeout(model, operations(steps), timeout) == porcupine.Illegal
	}
	fails := func(subset []Step) bool { return illegal(whole(subset)) }
	if blame == nil {
		return whole(Shrink(steps, fails))
	}
	alternatives := otherAnswers(blame)
	legal := func(steps []Step) []bool { // which other answers the culprit could have given
		out := make([]bool, len(alternatives))
		for i, alt := range alternatives {
			out[i] = !illegal(answering(steps, blame, alt))
		}
		return out
	}
	want := legal(steps)
	story := func(subset []Step) bool {
		var rest []Step
		for _, st := range subset {
			if st.Op != blame {
				rest = append(rest, st)
			}
		}
		if len(rest) == len(subset) {
			return false
		}
		without, with := whole(rest), whole(subset)
		for _, st := range without {
			if st.Op == blame {
				return false // it hands out what the rest presents: it cannot be left out
			}
		}
		return illegal(with) && !illegal(without) && slices.Equal(legal(with), want)
	}
	if !story(steps) {
		return whole(Shrink(steps, fails))
	}
	return whole(Shrink(steps, story))
}

// otherAnswers are the answers op could have given instead of its own: a
// success (handing out new tokens) and each error its kind of call may get.
func otherAnswers(op *Operation) []*Operation {
	fresh := map[string]any{"refresh_token": "(another answer)", "access_token": "(another answer)"}
	answers := map[string][]string{
		"confirm": {"ok", "INVALID_CODE", "CHALLENGE_NOT_FOUND", "TOO_MANY_ATTEMPTS", "USER_DISABLED"},
		"refresh": {"ok", "INVALID_REFRESH_TOKEN", "USER_DISABLED"},
		"me":      {"ok", "UNAUTHENTICATED"},
		"logout":  {"ok", "UNAUTHENTICATED"},
		"revoke":  {"ok", "SESSION_NOT_FOUND", "UNAUTHENTICATED"},
		"list":    {"ok", "UNAUTHENTICATED"},
	}[op.Op]
	var out []*Operation
	for _, answer := range answers {
		alt := *op
		if answer == "ok" {
			alt.Status, alt.Output = "ok", fresh
			if op.Status == "ok" {
				continue
			}
		} else {
			alt.Status, alt.Output = "fail", map[string]any{"error": answer}
			if op.Status == "fail" && op.Error() == answer {
				continue
			}
		}
		out = append(out, &alt)
	}
	return out
}

// answering is steps with op's answer replaced by alt's.
func answering(steps []Step, op, alt *Operation) []Step {
	out := make([]Step, len(steps))
	for i, st := range steps {
		if st.Op == op {
			st.Op = alt
		}
		out[i] = st
	}
	return out
}

// withProviders returns the closure of a subset of steps under "who handed it
// out": each step presenting a token (or naming a session) comes with the
// answer that handed that token (or session) out, and so on back to the
// confirm, so that a shrunk story never shows a token nobody was given.
func withProviders(all []Step) func([]Step) []Step {
	provider := map[string]int{}
	for i, st := range all {
		if st.Op.Status != "ok" || st.Role != RoleOwn {
			continue
		}
		for _, key := range []string{"access_token", "refresh_token", "session_id"} {
			value := str(st.Op.Output, key)
			if j, seen := provider[value]; value != "" && (!seen || all[j].Op.Return > st.Op.Return) {
				provider[value] = i
			}
		}
	}
	index := map[*Operation]int{}
	for i, st := range all {
		index[st.Op] = i
	}
	session := "" // the partition's own session, as the first answer naming it says
	for _, st := range all {
		if v := str(st.Op.Output, "session_id"); v != "" && st.Role == RoleOwn && session == "" {
			session = v
		}
	}
	needs := func(st Step, session string) []string {
		switch st.Role {
		case RoleTarget, RoleOther:
			return []string{str(st.Op.Input, "session_id")}
		case RoleListed:
			return []string{session}
		}
		return []string{str(st.Op.Input, "access_token"), str(st.Op.Input, "refresh_token")}
	}
	return func(subset []Step) []Step {
		keep := map[int]bool{}
		var queue []int
		for _, st := range subset {
			queue = append(queue, index[st.Op])
		}
		for len(queue) > 0 {
			i := queue[0]
			queue = queue[1:]
			if keep[i] {
				continue
			}
			keep[i] = true
			for _, value := range needs(all[i], session) {
				if j, ok := provider[value]; ok && value != "" {
					queue = append(queue, j)
				}
			}
		}
		out := make([]Step, 0, len(keep))
		for i, st := range all {
			if keep[i] {
				out = append(out, st)
			}
		}
		return out
	}
}

// Shrink drops steps while fails still holds (delta debugging, ddmin): the
// result fails and fails no more without any one of its steps.
func Shrink(steps []Step, fails func([]Step) bool) []Step {
	n := 2
	for len(steps) >= 2 {
		chunks := split(steps, n)
		reduced := false
		for i := range chunks {
			if fails(chunks[i]) {
				steps, n, reduced = chunks[i], 2, true
				break
			}
		}
		if !reduced && n > 2 {
			for i := range chunks {
				if rest := without(chunks, i); fails(rest) {
					steps, n, reduced = rest, max(n-1, 2), true
					break
				}
			}
		}
		if !reduced {
			if n >= len(steps) {
				break
			}
			n = min(2*n, len(steps))
		}
	}
	return steps
}

func split(steps []Step, n int) [][]Step {
	chunks := make([][]Step, 0, n)
	for i := 0; i < n; i++ {
		lo, hi := i*len(steps)/n, (i+1)*len(steps)/n
		if hi > lo {
			chunks = append(chunks, steps[lo:hi])
		}
	}
	return chunks
}

func without(chunks [][]Step, skip int) []Step {
	var out []Step
	for i, c := range chunks {
		if i != skip {
			out = append(out, c...)
		}
	}
	return out
}
