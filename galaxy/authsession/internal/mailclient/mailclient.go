// Package mailclient asks the mail service to deliver login codes
// (contracts/mail.md).
package mailclient

import (
	"context"
	"net/http"
	"time"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/upstream"
)

// Client implements auth.Mailer.
type Client struct {
	up *upstream.Client
}

var _ auth.Mailer = (*Client)(nil)

// New returns a client of the mail service at baseURL.
func New(baseURL string, timeout time.Duration) (*Client, error) {
	up, err := upstream.New("mail", baseURL, timeout)
	if err != nil {
		return nil, err
	}
	return &Client{up: up}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.up.Close() }

type message struct {
	To       string      `json:"to"`
	Template string      `json:"template"`
	Data     messageData `json:"data"`
}

type messageData struct {
	Code      string `json:"code"`
	ExpiresAt string `json:"expires_at"`
}

// SendLoginCode implements auth.Mailer: any 2xx answer means accepted;
// anything else is DEPENDENCY_UNAVAILABLE with dependency=mail.
func (c *Client) SendLoginCode(ctx context.Context, m auth.LoginCodeMessage) error {
	body := message{
		To:       m.To,
		Template: "login_code",
		Data:     messageData{Code: m.Code, ExpiresAt: m.ExpiresAt.UTC().Format(time.RFC3339)},
	}
	header := http.Header{"Idempotency-Key": {m.IdempotencyKey}}
	resp, err := c.up.PostJSON(ctx, "/v1/messages", header, body)
	if err != nil {
		return err
	}
	if resp.Status < 200 || resp.Status > 299 {
		return c.up.Fail("POST /v1/messages: status %d", resp.Status)
	}
	return nil
}
