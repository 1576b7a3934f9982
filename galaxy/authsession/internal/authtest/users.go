package authtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"galaxy/authsession/internal/auth"
)

// Users is a fake user service: it creates an active user on first sight
// and answers lookups by id.
type Users struct {
	URL string

	mu      sync.Mutex
	byEmail map[string]auth.User
	status  int    // when not 0, answer this status with body
	body    string // raw answer body when status is set
	delay   time.Duration
	calls   int
	traces  []string // the traceparent of each call, as for MailMessage
	// beforeAnswer, when set, sees each user found or created before it is
	// answered (outside the lock).
	beforeAnswer func(auth.User)
}

// NewUsers starts a fake user service; it stops when t ends.
func NewUsers(t testing.TB) *Users {
	u := &Users{byEmail: map[string]auth.User{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/users/resolve", u.resolve)
	mux.HandleFunc("GET /v1/users/{id}", u.get)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

func (u *Users) resolve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Email string `json:"email"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil || req.Email == "" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	u.answer(w, r, func() (auth.User, int) {
		user, ok := u.byEmail[req.Email]
		if ok {
			return user, http.StatusOK
		}
		user = auth.User{ID: fmt.Sprintf("user-%d", len(u.byEmail)+1), Email: req.Email, Status: auth.UserActive}
		u.byEmail[req.Email] = user
		return user, http.StatusCreated
	})
}

func (u *Users) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	u.answer(w, r, func() (auth.User, int) {
		for _, user := range u.byEmail {
			if user.ID == id {
				return user, http.StatusOK
			}
		}
		return auth.User{}, http.StatusNotFound
	})
}

// answer counts a call, waits for the delay, if any, and writes the forced
// answer, if any, else the user (or a bare status) that lookup returns;
// lookup runs under the lock.
func (u *Users) answer(w http.ResponseWriter, r *http.Request, lookup func() (auth.User, int)) {
	u.mu.Lock()
	u.calls++
	u.traces = append(u.traces, strings.Join(r.Header.Values("Traceparent"), ", "))
	delay := u.delay
	u.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	u.mu.Lock()
	forced, body, hook := u.status, u.body, u.beforeAnswer
	var user auth.User
	var status int
	if forced == 0 {
		user, status = lookup()
	}
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if forced != 0 {
		w.WriteHeader(forced)
		io.WriteString(w, body)
		return
	}
	if hook != nil && user.ID != "" {
		hook(user)
	}
	w.WriteHeader(status)
	if user.ID != "" {
		json.NewEncoder(w).Encode(map[string]string{"id": user.ID, "email": user.Email, "status": string(user.Status)})
	}
}

// Delay makes the fake wait d before answering (the call still counts).
func (u *Users) Delay(d time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.delay = d
}

// BeforeAnswer makes the fake call fn with each user it is about to
// answer, after looking it up and before answering it: what happens in fn
// happens after the user service decided its answer (nil stops it).
func (u *Users) BeforeAnswer(fn func(auth.User)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.beforeAnswer = fn
}

// Answer makes the fake answer status and body to every following request;
// status 0 restores normal behaviour.
func (u *Users) Answer(status int, body string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.status, u.body = status, body
}

// Put stores a user.
func (u *Users) Put(user auth.User) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.byEmail[user.Email] = user
}

// Remove forgets the user owning email.
func (u *Users) Remove(email string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.byEmail, email)
}

// Calls returns how many requests were answered.
func (u *Users) Calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

// Traceparents returns the traceparent header of each request, in order
// ("" for none).
func (u *Users) Traceparents() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.traces...)
}
