// Package userclient resolves and looks up users through the user service
// (contracts/user.md).
package userclient

import (
	"context"
	"net/http"
	"net/url"
	"strings"
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

type user struct {
	ID     *string `json:"id"`
	Email  *string `json:"email"`
	Status *string `json:"status"`
}

// Resolve implements auth.Users: POST /v1/users/resolve answers 200 (known)
// or 201 (created) with a user. Any other answer, or a body that is not
// exactly a user, is DEPENDENCY_UNAVAILABLE with dependency=user.
func (c *Client) Resolve(ctx context.Context, email string) (auth.User, error) {
	const call = "POST /v1/users/resolve"
	resp, err := c.up.PostJSON(ctx, "/v1/users/resolve", nil, map[string]string{"email": email})
	if err != nil {
		return auth.User{}, err
	}
	if resp.Status != http.StatusOK && resp.Status != http.StatusCreated {
		return auth.User{}, c.up.Fail("%s: status %d", call, resp.Status)
	}
	return c.decodeUser(call, resp)
}

// User implements auth.Users: GET /v1/users/{id} answers 200 with the user
// or 404 (auth.ErrUserNotFound). Any other answer, a body that is not
// exactly a user or another user is DEPENDENCY_UNAVAILABLE with
// dependency=user.
func (c *Client) User(ctx context.Context, id string) (auth.User, error) {
	const call = "GET /v1/users/{id}"
	resp, err := c.up.GetJSON(ctx, "/v1/users/"+escapeSegment(id))
	if err != nil {
		return auth.User{}, err
	}
	switch resp.Status {
	case http.StatusOK:
	case http.StatusNotFound:
		return auth.User{}, auth.ErrUserNotFound
	default:
		return auth.User{}, c.up.Fail("%s: status %d", call, resp.Status)
	}
	u, err := c.decodeUser(call, resp)
	if err == nil && u.ID != id {
		return auth.User{}, c.up.Fail("%s: answer is another user", call)
	}
	return u, err
}

// escapeSegment escapes id as one path segment; dots too, so "." or ".."
// cannot climb out of /v1/users/.
func escapeSegment(id string) string {
	return strings.ReplaceAll(url.PathEscape(id), ".", "%2E")
}

// decodeUser checks that resp's body is exactly a user (contracts/user.md).
func (c *Client) decodeUser(call string, resp upstream.Response) (auth.User, error) {
	if resp.Truncated {
		return auth.User{}, c.up.Fail("%s: answer is larger than %d bytes", call, upstream.MaxResponseBytes)
	}
	var u user
	if err := upstream.Decode(resp.Body, &u); err != nil {
		return auth.User{}, c.up.Fail("%s: answer is not a user: %w", call, err)
	}
	switch {
	case u.ID == nil || *u.ID == "":
		return auth.User{}, c.up.Fail("%s: answer has no user id", call)
	case len(*u.ID) > auth.MaxUserIDLength:
		return auth.User{}, c.up.Fail("%s: user id is longer than %d bytes", call, auth.MaxUserIDLength)
	case u.Email == nil:
		return auth.User{}, c.up.Fail("%s: answer has no email", call)
	case u.Status == nil:
		return auth.User{}, c.up.Fail("%s: answer has no status", call)
	}
	status := auth.UserStatus(*u.Status)
	if status != auth.UserActive && status != auth.UserDisabled {
		return auth.User{}, c.up.Fail("%s: unknown user status %q", call, *u.Status)
	}
	return auth.User{ID: *u.ID, Email: *u.Email, Status: status}, nil
}
