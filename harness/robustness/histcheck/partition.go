package histcheck

import "sort"

// Role says what a projected operation tells about a partition's session
// when the operation concerns several: the caller (whose access token
// authorised it), the target (the session it acts on), or, for a listing,
// another session of the caller's user (listed or not).
type Role string

const (
	RoleOwn    Role = ""       // the operation concerns this session alone
	RoleCaller Role = "caller" // authorised by this session's access token, acting on another
	RoleTarget Role = "target" // acting on this session, authorised by another's token
	RoleListed Role = "listed" // a listing by another session of the same user
	RoleOther  Role = "other"  // acting on this session, authorised by another user's token: it must do nothing
)

// Step is one operation as a partition sees it.
type Step struct {
	Op     *Operation
	Role   Role
	Listed bool // RoleListed and RoleOwn listings: whether this session was in the list
}

// Partition is everything a history says about one login challenge and the
// session it opened: keyed by the challenge id.
type Partition struct {
	Key       string
	SessionID string // as an answer named it ("" while none did)
	UserID    string
	Email     string // the email its start named, when a start of it was answered
	Steps     []Step
}

type partitioner struct {
	byChallenge map[string]*Partition
	order       []*Partition
	byRefresh   map[string]*Partition
	byAccess    map[string]*Partition
	bySession   map[string]*Partition
}

func (p *partitioner) challenge(id string) *Partition {
	part := p.byChallenge[id]
	if part == nil {
		part = &Partition{Key: "challenge:" + id}
		p.byChallenge[id] = part
		p.order = append(p.order, part)
	}
	return part
}

// learn files an answer's tokens and session under part; true when it taught anything new.
func (p *partitioner) learn(part *Partition, out map[string]any) bool {
	learnt := false
	for key, index := range map[string]map[string]*Partition{
		"refresh_token": p.byRefresh, "access_token": p.byAccess, "session_id": p.bySession,
	} {
		if value := str(out, key); value != "" && index[value] == nil {
			index[value] = part
			learnt = true
		}
	}
	if part.SessionID == "" && str(out, "session_id") != "" {
		part.SessionID = str(out, "session_id")
	}
	if part.UserID == "" && str(out, "user_id") != "" {
		part.UserID = str(out, "user_id")
	}
	return learnt
}

// Partitions splits a history by login challenge. A confirm belongs to its
// challenge; a refresh, me, logout, revoke or list to the session whose
// token (or id) it names, known from the answer that handed the token out;
// revoke_all, disable_user and enable_user to every partition of their user
// (a challenge whose session no answer named, by the email its start and the
// call name), a wipe to every partition;
// a listing also to every other session of its user, as "listed" or not. An
// operation that names nothing any answer handed out cannot be attributed
// and is returned apart (its ids).
func Partitions(h *History) ([]*Partition, []int) {
	p := &partitioner{
		byChallenge: map[string]*Partition{},
		byRefresh:   map[string]*Partition{},
		byAccess:    map[string]*Partition{},
		bySession:   map[string]*Partition{},
	}
	// Answers hand out tokens that later calls present: learn until nothing new.
	for learnt := true; learnt; {
		learnt = false
		for _, op := range h.Operations {
			if op.Status != "ok" {
				continue
			}
			switch op.Op {
			case "start":
				if id := str(op.Output, "challenge_id"); id != "" {
					p.challenge(id).Email = str(op.Input, "email")
				}
			case "confirm":
				learnt = p.learn(p.challenge(str(op.Input, "challenge_id")), op.Output) || learnt
			case "refresh":
				if part := p.byRefresh[str(op.Input, "refresh_token")]; part != nil {
					learnt = p.learn(part, op.Output) || learnt
				}
			case "me":
				if part := p.byAccess[str(op.Input, "access_token")]; part != nil {
					learnt = p.learn(part, op.Output) || learnt
				}
			}
		}
	}
	var unattributed []int
	for _, op := range h.Operations {
		if !p.assign(op) {
			unattributed = append(unattributed, op.ID)
		}
	}
	parts := make([]*Partition, 0, len(p.order))
	for _, part := range p.order {
		if len(part.Steps) > 0 {
			parts = append(parts, part)
		}
	}
	return parts, unattributed
}

func (p *partitioner) assign(op *Operation) bool {
	own := func(part *Partition) bool {
		if part == nil {
			return false
		}
		part.Steps = append(part.Steps, Step{Op: op})
		return true
	}
	switch op.Op {
	case "start":
		if id := str(op.Output, "challenge_id"); op.Status == "ok" && id != "" {
			return own(p.challenge(id))
		}
		return false
	case "confirm":
		return own(p.challenge(str(op.Input, "challenge_id")))
	case "refresh":
		return own(p.byRefresh[str(op.Input, "refresh_token")])
	case "me", "logout":
		return own(p.byAccess[str(op.Input, "access_token")])
	case "revoke":
		caller, target := p.byAccess[str(op.Input, "access_token")], p.bySession[str(op.Input, "session_id")]
		if caller != nil && caller == target {
			return own(caller)
		}
		if caller == nil { // whose token it was is not known: nothing is known of what it may do
			return false
		}
		caller.Steps = append(caller.Steps, Step{Op: op, Role: RoleCaller})
		if target != nil {
			role := RoleTarget
			if caller.UserID == "" || target.UserID == "" || caller.UserID != target.UserID {
				role = RoleOther
			}
			target.Steps = append(target.Steps, Step{Op: op, Role: role})
		}
		return true
	case "list":
		return p.assignList(op)
	case "wipe": // the store lost its data: every challenge and session at once
		for _, part := range p.order {
			part.Steps = append(part.Steps, Step{Op: op})
		}
		return len(p.order) > 0
	case "revoke_all", "disable_user", "enable_user":
		// A challenge whose session no answer named is the user's by its email,
		// when the call names that too (a disable does: the user service knows it).
		user, email, found := str(op.Input, "user_id"), str(op.Input, "email"), false
		for _, part := range p.order {
			if user != "" && part.UserID == user || part.UserID == "" && email != "" && part.Email == email {
				part.Steps = append(part.Steps, Step{Op: op})
				found = true
			}
		}
		return found
	}
	return false
}

func (p *partitioner) assignList(op *Operation) bool {
	caller := p.byAccess[str(op.Input, "access_token")]
	if caller == nil {
		return false
	}
	listed := map[string]bool{}
	for _, id := range strs(op.Output, "session_ids") {
		listed[id] = true
	}
	caller.Steps = append(caller.Steps, Step{Op: op, Listed: listed[caller.SessionID]})
	if op.Status != "ok" || caller.UserID == "" {
		return true
	}
	for _, part := range p.order {
		if part != caller && part.UserID == caller.UserID && part.SessionID != "" {
			part.Steps = append(part.Steps, Step{Op: op, Role: RoleListed, Listed: listed[part.SessionID]})
		}
	}
	return true
}

// ids lists the operations of steps, each once, in order.
func ids(steps []Step) []int {
	seen := map[int]bool{}
	var out []int
	for _, s := range steps {
		if !seen[s.Op.ID] {
			seen[s.Op.ID] = true
			out = append(out, s.Op.ID)
		}
	}
	sort.Ints(out)
	return out
}
