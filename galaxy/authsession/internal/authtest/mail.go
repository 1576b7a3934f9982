package authtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// MailMessage is one request the fake mail service received.
type MailMessage struct {
	IdempotencyKey string
	ContentType    string
	Traceparent    string // every traceparent header, joined by ", "
	To             string `json:"to"`
	Template       string `json:"template"`
	Data           struct {
		Code      string `json:"code"`
		ExpiresAt string `json:"expires_at"`
	} `json:"data"`
}

// Mail is a fake mail service.
type Mail struct {
	URL string

	mu       sync.Mutex
	status   int
	delay    time.Duration
	messages []MailMessage
}

// NewMail starts a fake mail service that accepts every message (202)
// until told otherwise; it stops when t ends.
func NewMail(t testing.TB) *Mail {
	m := &Mail{status: http.StatusAccepted}
	srv := httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(srv.Close)
	m.URL = srv.URL
	return m
}

func (m *Mail) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		http.NotFound(w, r)
		return
	}
	var msg MailMessage
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	msg.IdempotencyKey = r.Header.Get("Idempotency-Key")
	msg.ContentType = r.Header.Get("Content-Type")
	msg.Traceparent = strings.Join(r.Header.Values("Traceparent"), ", ")
	m.mu.Lock()
	m.messages = append(m.messages, msg)
	status, delay := m.status, m.delay
	m.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"id": "msg-%d"}`, len(m.Messages()))
}

// Fail makes the fake answer status to every following request.
func (m *Mail) Fail(status int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status = status
}

// Delay makes the fake wait d before answering.
func (m *Mail) Delay(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delay = d
}

// Messages returns every request received so far.
func (m *Mail) Messages() []MailMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]MailMessage(nil), m.messages...)
}

// CodeFor returns the code last mailed for challengeID.
func (m *Mail) CodeFor(t testing.TB, challengeID string) string {
	t.Helper()
	msgs := m.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].IdempotencyKey == challengeID {
			return msgs[i].Data.Code
		}
	}
	t.Fatalf("no mail was sent for challenge %q (got %d messages)", challengeID, len(msgs))
	return ""
}
