// Package userclient resolves users through the user service
// (contracts/user.md).
package userclient

import (
	"context"
	"net/http"
	"time"

	"galaxy/authsession/internal/auth"
	"galaxy/authsession/internal/upstream"
)

// Client implements auth.Users.
type Client struct {
	up *upstream.Client
}

var _ auth.Users = (*Client)(nil)

// New returns a client of the user service at baseURL.
func New(baseURL string, timeout time.Duration) (*Client, error) {
	up, err := upstream.New("user", baseURL, timeout)
	if err != nil {
		return nil, err
	}
	return &Client{up: up}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.up.Close() }

// maxUserIDLength bounds a user id (it becomes part of Redis keys and tokens).
const maxUserIDLength = 256

type user struct {
	ID     *string `json:"id"`
	Email  *string `json:"email"`
	Status *string `json:"status"`
}

// Resolve implements auth.Users: POST /v1/users/resolve answers 200 (known)
// or 201 (created) with a user. Any other answer, or a body that is not
// exactly a user, is DEPENDENCY_UNAVAILABLE with dependency=user.
func (c *Client) Resolve(ctx context.Context, email string) (auth.User, error) {
	resp, err := c.up.PostJSON(ctx, "/v1/users/resolve", nil, map[string]string{"email": email})
	if err != nil {
		return auth.User{}, err
	}
	if resp.Status != http.StatusOK && resp.Status != http.StatusCreated {
		return auth.User{}, c.up.Fail("POST /v1/users/resolve: status %d", resp.Status)
	}
	if resp.Truncated {
		return auth.User{}, c.up.Fail("POST /v1/users/resolve: answer is larger than %d bytes", upstream.MaxResponseBytes)
	}
	var u user
	if err := upstream.Decode(resp.Body, &u); err != nil {
		return auth.User{}, c.up.Fail("POST /v1/users/resolve: answer is not a user: %w", err)
	}
	switch {
	case u.ID == nil || *u.ID == "":
		return auth.User{}, c.up.Fail("POST /v1/users/resolve: answer has no user id")
	case len(*u.ID) > maxUserIDLength:
		return auth.User{}, c.up.Fail("POST /v1/users/resolve: user id is longer than %d bytes", maxUserIDLength)
	case u.Email == nil:
		return auth.User{}, c.up.Fail("POST /v1/users/resolve: answer has no email")
	case u.Status == nil:
		return auth.User{}, c.up.Fail("POST /v1/users/resolve: answer has no status")
	}
	status := auth.UserStatus(*u.Status)
	if status != auth.UserActive && status != auth.UserDisabled {
		return auth.User{}, c.up.Fail("POST /v1/users/resolve: unknown user status %q", *u.Status)
	}
	return auth.User{ID: *u.ID, Email: *u.Email, Status: status}, nil
}
