package histcheck

import (
	"fmt"
	"sort"
	"strings"

	"github.com/anishathalye/porcupine"
)

// State is what the outside can know of one challenge and the session it
// opens, after some operations. A token or id not yet seen in an answer (the
// call that made it was not answered) is a placeholder starting with "?",
// bound to the first answer that shows it.
type State struct {
	Burned    bool   // the challenge is gone without a session (expired, too many attempts)
	Opened    bool   // a confirm opened the session
	Started   bool   // a start answered this challenge
	SessionID string // "" while no answer named it
	UserID    string
	Code      string // the code that opened it
	T0        string // the first refresh token
	OpenLo    int64  // the opening confirm's interval: the open happened within it
	OpenHi    int64
	Live      bool
	Current   string // the refresh token that rotates next
	Prev      string // the token rotated last; its successor is Current
	RotLo     int64  // the last rotation's interval
	RotHi     int64
	Rejected  string // codes answered INVALID_CODE before the open, sorted, "\n"-joined
	Disabled  bool   // the user is disabled at the user service
}

const (
	unknownT0        = "?t0"
	unknownSuccessor = "?successor"
)

// Model is the session model of contracts/tokens.md, as porcupine's
// nondeterministic model over one partition: an operation whose answer was
// not received may or may not have taken effect, and each possibility is a
// state.
func Model(p Params) porcupine.Model {
	m := &model{grace: p.RetryGraceNs, slack: p.ClockSlackNs}
	nondeterministic := porcupine.NondeterministicModel{
		Init: func() []any { return []any{State{}} },
		Step: func(state, input, _ any) []any {
			next := m.step(state.(State), input.(Step))
			out := make([]any, len(next))
			for i, s := range next {
				out[i] = s
			}
			return out
		},
		DescribeOperation: func(input, _ any) string { return Describe(input.(Step)) },
		DescribeState:     func(state any) string { return describeState(state.(State)) },
	}
	return nondeterministic.ToModel()
}

type model struct {
	grace int64
	slack int64
}

// Window says whether a retry made in [call, ret] of an event that happened
// within [lo, hi] is surely within the retry window, surely past it, or either.
func (m *model) window(lo, hi int64, op *Operation) (within, past bool) {
	if m.grace <= 0 {
		return false, true // no retries: every reuse is a replay
	}
	within = op.Return != Never && op.Return+m.slack < lo+m.grace
	past = hi != Never && op.Call-m.slack >= hi+m.grace
	return within, past
}

func (m *model) step(s State, st Step) []State {
	op := st.Op
	if op.Indeterminate() {
		return append([]State{s}, m.effects(s, st)...)
	}
	code := op.Error()
	if op.Status == "fail" && code == "RATE_LIMITED" {
		return []State{s} // refused before anything was done
	}
	switch op.Op {
	case "start":
		if op.Status == "ok" && !s.Started {
			s.Started = true
			return []State{s}
		}
	case "confirm":
		return m.confirm(s, op)
	case "refresh":
		return m.refresh(s, op)
	case "me":
		return m.me(s, op)
	case "logout":
		return m.logout(s, op)
	case "revoke":
		return m.revoke(s, st)
	case "list":
		return m.list(s, st)
	case "revoke_all":
		if op.Status == "ok" && s.Live {
			s.Live = false
		}
		return []State{s}
	case "disable_user", "enable_user":
		if op.Status == "ok" {
			s.Disabled = op.Op == "disable_user"
		}
		return []State{s}
	case "wipe":
		return []State{wiped(s)}
	}
	return nil
}

// wiped is s once the store lost its data: the session ended, a challenge
// started and not yet used gone with it (one started later is not); what
// the user service holds stays.
func wiped(s State) State {
	s.Live = false
	if s.Started && !s.Opened {
		s.Burned = true
	}
	return s
}

// effects are the states an unanswered operation may have left.
func (m *model) effects(s State, st Step) []State {
	op := st.Op
	var out []State
	switch op.Op {
	case "start":
		if !s.Started {
			s.Started = true
			out = append(out, s)
		}
	case "confirm":
		if !s.Opened && !s.Burned {
			opened := s
			opened.Opened, opened.Live, opened.Code = true, true, str(op.Input, "code")
			opened.T0, opened.Current, opened.OpenLo, opened.OpenHi = unknownT0, unknownT0, op.Call, Never
			burned := s
			burned.Burned = true
			out = append(out, opened, burned)
		}
		if m.confirmRetry(s, op) && s.Disabled {
			out = append(out, revoked(s))
		}
	case "refresh":
		token := str(op.Input, "refresh_token")
		if !s.Live {
			break
		}
		within, _ := m.window(s.RotLo, s.RotHi, op)
		if token == s.Current && !s.Disabled {
			rotated := s
			rotated.Prev, rotated.Current, rotated.RotLo, rotated.RotHi = token, unknownSuccessor, op.Call, Never
			out = append(out, rotated)
		}
		if s.Disabled || token != s.Current && (token != s.Prev || !within) {
			out = append(out, revoked(s)) // the owner disabled, or a replay
		}
	case "logout", "revoke_all":
		if s.Live {
			out = append(out, revoked(s))
		}
	case "revoke":
		if (st.Role == RoleOwn || st.Role == RoleTarget) && s.Live {
			out = append(out, revoked(s))
		}
	case "wipe":
		out = append(out, wiped(s))
	case "disable_user":
		s.Disabled = true
		out = append(out, s)
	case "enable_user":
		s.Disabled = false
		out = append(out, s)
	}
	return out
}

func revoked(s State) State {
	s.Live = false
	return s
}

// bind gives a field the value an answer shows: a field still unknown ("" or
// a placeholder) takes it; false when the field already holds another.
func bind(field *string, value string) bool {
	switch {
	case value == "" || *field == value:
		return true
	case *field == "" || strings.HasPrefix(*field, "?"):
		*field = value
		return true
	}
	return false
}

// answer binds what an answer names to s: its session and user, and, given
// want (the refresh token it must hand out, or a placeholder for it), its
// refresh token; false when the answer contradicts s.
func answer(s State, op *Operation, want string) (State, bool) {
	ok := bind(&s.SessionID, str(op.Output, "session_id"))
	ok = bind(&s.UserID, str(op.Output, "user_id")) && ok
	if want == "" {
		return s, ok
	}
	token := str(op.Output, "refresh_token")
	if !strings.HasPrefix(want, "?") {
		return s, ok && token == want
	}
	for _, field := range []*string{&s.T0, &s.Current, &s.Prev} {
		if *field == want {
			*field = token
		}
	}
	return s, ok && token != ""
}

func (m *model) confirm(s State, op *Operation) []State {
	code := str(op.Input, "code")
	if op.Status == "ok" {
		token := str(op.Output, "refresh_token")
		switch {
		case !s.Opened && !s.Burned && !rejected(s, code) && !s.Disabled:
			s.Opened, s.Live, s.Code = true, true, code
			s.T0, s.Current, s.OpenLo, s.OpenHi = token, token, op.Call, op.Return
			s, ok := answer(s, op, "")
			return keep(s, ok)
		case m.confirmRetry(s, op) && !s.Disabled:
			return keep(answer(s, op, s.T0)) // a retry: the same session and first token
		}
		return nil
	}
	switch op.Error() {
	case "INVALID_CODE":
		if !s.Opened && !s.Burned && code != s.Code {
			s.Rejected = addRejected(s.Rejected, code)
			return []State{s}
		}
	case "TOO_MANY_ATTEMPTS":
		if !s.Opened && !s.Burned {
			s.Burned = true
			return []State{s}
		}
	case "CHALLENGE_NOT_FOUND":
		// Used, expired or burned, or every attempt taken: the attempts a
		// challenge has left are not modelled, so after the open any confirm
		// may be refused so.
		if !s.Opened {
			s.Burned = true
		}
		return []State{s}
	case "USER_DISABLED":
		if !s.Opened && s.Disabled {
			return []State{s}
		}
		if m.confirmRetry(s, op) && s.Disabled {
			return []State{revoked(s)} // a retry asks about the owner too: a disabled one loses the session
		}
	}
	return nil
}

// confirmRetry says whether a confirm with the right code may be a retry of
// the one that opened the session: the session live, its first refresh
// token never rotated, the retry window not surely past.
func (m *model) confirmRetry(s State, op *Operation) bool {
	if !s.Opened || !s.Live || str(op.Input, "code") != s.Code || s.Current != s.T0 {
		return false
	}
	_, past := m.window(s.OpenLo, s.OpenHi, op)
	return !past
}

func (m *model) refresh(s State, op *Operation) []State {
	token := str(op.Input, "refresh_token")
	code := op.Error()
	if !s.Opened || !s.Live {
		if op.Status == "fail" && code == "INVALID_REFRESH_TOKEN" {
			return []State{s}
		}
		return nil
	}
	switch {
	case token == s.Current:
		if op.Status == "ok" && !s.Disabled {
			next := str(op.Output, "refresh_token")
			if next == "" || next == token {
				return nil
			}
			s, ok := answer(s, op, "")
			s.Prev, s.Current, s.RotLo, s.RotHi = token, next, op.Call, op.Return
			return keep(s, ok)
		}
		if code == "USER_DISABLED" && s.Disabled {
			return []State{revoked(s)} // asked before rotating: a disabled owner loses the session
		}
		return nil // the current token of a live session rotates
	case token == s.Prev:
		within, past := m.window(s.RotLo, s.RotHi, op)
		if code == "USER_DISABLED" && s.Disabled && !past {
			return []State{revoked(s)} // a retry asks about the owner too
		}
		if op.Status == "ok" {
			if past || s.Disabled {
				return nil
			}
			return keep(answer(s, op, s.Current)) // a retry: the same successor
		}
		if code == "INVALID_REFRESH_TOKEN" && !within {
			return []State{revoked(s)} // a replay revokes the session
		}
		return nil
	default: // an older token: a replay
		if op.Status == "fail" && code == "INVALID_REFRESH_TOKEN" {
			return []State{revoked(s)}
		}
		return nil
	}
}

func (m *model) me(s State, op *Operation) []State {
	if op.Status == "ok" {
		if s.Opened && s.Live {
			return keep(answer(s, op, ""))
		}
		return nil
	}
	if op.Error() == "UNAUTHENTICATED" && !s.Live {
		return []State{s}
	}
	return nil
}

func (m *model) logout(s State, op *Operation) []State {
	if op.Status == "ok" && s.Live {
		return []State{revoked(s)}
	}
	if op.Status == "fail" && op.Error() == "UNAUTHENTICATED" && !s.Live {
		return []State{s}
	}
	return nil
}

func (m *model) revoke(s State, st Step) []State {
	op, code := st.Op, st.Op.Error()
	switch st.Role {
	case RoleCaller: // only its token's check is this session's
		if (op.Status == "ok" || code == "SESSION_NOT_FOUND") && s.Live || code == "UNAUTHENTICATED" && !s.Live {
			return []State{s}
		}
	case RoleOther: // another user's session answers SESSION_NOT_FOUND, live or not
		if op.Status == "fail" {
			return []State{s}
		}
	case RoleTarget: // the caller's check is another session's: refused so, it says nothing here
		switch {
		case op.Status == "ok" && s.Live:
			return []State{revoked(s)}
		case code == "SESSION_NOT_FOUND" && !s.Live, code == "UNAUTHENTICATED":
			return []State{s}
		}
	default:
		switch {
		case op.Status == "ok" && s.Live:
			return []State{revoked(s)}
		case (code == "SESSION_NOT_FOUND" || code == "UNAUTHENTICATED") && !s.Live:
			return []State{s}
		}
	}
	return nil
}

func (m *model) list(s State, st Step) []State {
	op := st.Op
	if st.Role == RoleListed { // another session's listing: this one is listed while it is live
		if st.Listed == (s.Opened && s.Live) {
			return []State{s}
		}
		return nil
	}
	if op.Status == "ok" && s.Live {
		return []State{s} // its token's check and the listing are two reads: a logout between them may hide it
	}
	if op.Error() == "UNAUTHENTICATED" && !s.Live {
		return []State{s}
	}
	return nil
}

func keep(s State, ok bool) []State {
	if ok {
		return []State{s}
	}
	return nil
}

func rejected(s State, code string) bool {
	for _, c := range strings.Split(s.Rejected, "\n") {
		if c != "" && c == code {
			return true
		}
	}
	return false
}

func addRejected(list, code string) string {
	if code == "" {
		return list
	}
	codes := strings.Split(list, "\n")
	if list == "" {
		codes = nil
	}
	for _, c := range codes {
		if c == code {
			return list
		}
	}
	codes = append(codes, code)
	sort.Strings(codes)
	return strings.Join(codes, "\n")
}

// Short is the tail of a token or id, enough to tell them apart in a story.
func Short(value string) string {
	if strings.HasPrefix(value, "?") || len(value) <= 8 {
		return value
	}
	return "…" + value[len(value)-6:]
}

// Describe is one line for an operation: what it asked and what it got.
func Describe(st Step) string {
	op := st.Op
	var args []string
	for _, key := range []string{"email", "challenge_id", "code", "refresh_token", "access_token", "session_id", "user_id"} {
		if v := str(op.Input, key); v != "" {
			args = append(args, key+"="+Short(v))
		}
	}
	got := op.Status
	switch {
	case op.Status == "ok":
		var outs []string
		for _, key := range []string{"challenge_id", "session_id", "refresh_token"} {
			if v := str(op.Output, key); v != "" {
				outs = append(outs, key+"="+Short(v))
			}
		}
		if ids := strs(op.Output, "session_ids"); op.Op == "list" {
			short := make([]string, len(ids))
			for i, id := range ids {
				short[i] = Short(id)
			}
			outs = append(outs, "sessions=["+strings.Join(short, " ")+"]")
		}
		if len(outs) > 0 {
			got += " " + strings.Join(outs, " ")
		}
	case op.Error() != "":
		got += " " + op.Error()
	}
	role := ""
	if st.Role != RoleOwn {
		role = fmt.Sprintf(" [%s]", st.Role)
		if st.Role == RoleListed {
			role = fmt.Sprintf(" [listed: %v]", st.Listed)
		}
	}
	return fmt.Sprintf("%s(%s) -> %s%s", op.Op, strings.Join(args, ", "), got, role)
}

func describeState(s State) string {
	switch {
	case s.Burned && !s.Opened:
		return "challenge gone, no session"
	case !s.Opened:
		return "no session yet"
	}
	live := "live"
	if !s.Live {
		live = "ended"
	}
	return fmt.Sprintf("session %s %s, current %s, previous %s", Short(s.SessionID), live, Short(s.Current), Short(s.Prev))
}
