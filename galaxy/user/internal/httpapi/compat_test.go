package httpapi_test

// The AuthsessionCompatibility tests pin what the user service answers
// authsession to contracts/user.md, read the way authsession reads it:
// resolve answers 200 or 201 and get 200 or 404, and every user holds an
// id (a non-empty string of at most 256 bytes), an email (a string) and a
// status ("active" or "disabled"), the user asked for. Run them alone with
// go test ./... -run AuthsessionCompatibility.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"galaxy/platform/email"
	"galaxy/platform/logging"
	"galaxy/platform/tracecontext/tracecontexttest"
	"galaxy/user/internal/userstest"
)

// maxUserIDLength is the longest user id authsession accepts
// (contracts/user.md); it becomes part of Redis keys and of tokens.
const maxUserIDLength = 256

// contractUser is a user as authsession decodes it: each field must be
// present.
type contractUser struct {
	ID     *string `json:"id"`
	Email  *string `json:"email"`
	Status *string `json:"status"`
}

// asAuthsessionReadsIt decodes body as authsession does and fails unless
// it is a user of the contract; it returns id, email and status.
func asAuthsessionReadsIt(t *testing.T, body []byte) (id, address, status string) {
	t.Helper()
	var u contractUser
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&u); err != nil {
		t.Fatalf("answer %s is not a JSON object: %v", body, err)
	}
	switch {
	case u.ID == nil || *u.ID == "" || len(*u.ID) > maxUserIDLength:
		t.Fatalf("answer %s: id must be a non-empty string of at most %d bytes", body, maxUserIDLength)
	case u.Email == nil:
		t.Fatalf("answer %s has no email", body)
	case u.Status == nil || (*u.Status != "active" && *u.Status != "disabled"):
		t.Fatalf("answer %s: status must be active or disabled", body)
	}
	return *u.ID, *u.Email, *u.Status
}

// escapeSegment escapes id as authsession does for GET /v1/users/{id}.
func escapeSegment(id string) string { return strings.ReplaceAll(url.PathEscape(id), ".", "%2E") }

// TestAuthsessionCompatibilityResolveAndGet: authsession resolves the
// normalised address it holds, then gets the user by the id it was given,
// escaped as one path segment; both answer that same user, its email the
// address authsession sent.
func TestAuthsessionCompatibilityResolveAndGet(t *testing.T) {
	t.Parallel()
	a := serve(t, userstest.Options{})
	for _, raw := range []string{"ada@example.com", "Zoë.Smith+tag@Bücher.example", "o'brien@example.ie"} {
		sent, err := email.Normalize(raw) // what authsession sends
		if err != nil {
			t.Fatal(err)
		}
		resp, body := a.resolveEmail(t, sent)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("resolve %q = %d (%s), want 201", sent, resp.StatusCode, body)
		}
		id, got, status := asAuthsessionReadsIt(t, body)
		if got != sent || status != "active" {
			t.Errorf("resolve %q answered email %q, status %q; want the address sent, active", sent, got, status)
		}
		if escaped := escapeSegment(id); escaped != id {
			t.Errorf("id %q is escaped to %q on authsession's way: it must be a path segment as it is", id, escaped)
		}

		resp, body = a.resolveEmail(t, sent)
		if again, _, _ := asAuthsessionReadsIt(t, body); resp.StatusCode != http.StatusOK || again != id {
			t.Errorf("second resolve %q = %d, id %q; want 200 and %q", sent, resp.StatusCode, again, id)
		}
		resp, body = do(t, request{method: "GET", url: a.public + "/v1/users/" + escapeSegment(id)})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("get %s = %d (%s), want 200", id, resp.StatusCode, body)
		}
		if gotID, gotEmail, _ := asAuthsessionReadsIt(t, body); gotID != id || gotEmail != sent {
			t.Errorf("get %s answered user %q <%s>, want the user asked for", id, gotID, gotEmail)
		}
	}
}

// TestAuthsessionCompatibilityUnknownUser: an id the service never gave
// answers 404, which authsession reads as a user that no longer exists.
func TestAuthsessionCompatibilityUnknownUser(t *testing.T) {
	t.Parallel()
	a := serve(t, userstest.Options{})
	for _, id := range []string{"usr_00000000000000000000000000000000", "user-1", strings.Repeat("u", maxUserIDLength)} {
		if resp, body := do(t, request{method: "GET", url: a.public + "/v1/users/" + escapeSegment(id)}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("get %q = %d (%s), want 404", id, resp.StatusCode, body)
		}
	}
}

// TestAuthsessionCompatibilityDisabledUser: once disabled, the user is
// answered "disabled" by both routes, so authsession opens no session for
// it and ends its sessions on refresh.
func TestAuthsessionCompatibilityDisabledUser(t *testing.T) {
	t.Parallel()
	a := serve(t, userstest.Options{})
	ada := a.env.Resolve(t, "ada@example.com")
	if resp, body := do(t, request{method: "POST", url: a.admin + "/v1/admin/users/" + ada.ID + "/disable"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("disable = %d (%s)", resp.StatusCode, body)
	}
	_, body := a.resolveEmail(t, "ada@example.com")
	if _, _, status := asAuthsessionReadsIt(t, body); status != "disabled" {
		t.Errorf("resolve of a disabled user: status %q, want disabled", status)
	}
	_, body = do(t, request{method: "GET", url: a.public + "/v1/users/" + ada.ID})
	if _, _, status := asAuthsessionReadsIt(t, body); status != "disabled" {
		t.Errorf("get of a disabled user: status %q, want disabled", status)
	}
}

// TestAuthsessionCompatibilityOutageIsNoAnswer: with its Redis down the
// service answers neither a user nor 404 (which would make authsession
// end the sessions of a user it believes gone): authsession then reports
// the user service as unavailable and changes nothing.
func TestAuthsessionCompatibilityOutageIsNoAnswer(t *testing.T) {
	t.Parallel()
	a := serve(t, userstest.Options{})
	ada := a.env.Resolve(t, "ada@example.com")
	a.env.Redis.Close()
	if resp, body := a.resolveEmail(t, "ada@example.com"); resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated {
		t.Errorf("resolve with Redis down = %d (%s), want no user", resp.StatusCode, body)
	}
	if resp, body := do(t, request{method: "GET", url: a.public + "/v1/users/" + ada.ID}); resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNotFound {
		t.Errorf("get with Redis down = %d (%s), want neither a user nor 404", resp.StatusCode, body)
	}
}

// TestAuthsessionCompatibilityTraceparent: authsession sends one
// traceparent with every request; the service logs its request in that
// trace.
func TestAuthsessionCompatibilityTraceparent(t *testing.T) {
	t.Parallel()
	a := serve(t, userstest.Options{})
	resp, body := do(t, request{method: "POST", url: a.public + "/v1/users/resolve", body: `{"email": "ada@example.com"}`,
		header: http.Header{"Traceparent": {tracecontexttest.Valid}}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("resolve = %d (%s)", resp.StatusCode, body)
	}
	for line := range strings.SplitSeq(a.env.Logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "http request" && m["path"] == "/v1/users/resolve" {
			if m[logging.TraceIDKey] != tracecontexttest.TraceID {
				t.Errorf("access line %v, want trace %s", m, tracecontexttest.TraceID)
			}
			return
		}
	}
	t.Errorf("no access line for the resolve in\n%s", a.env.Logs.String())
}
