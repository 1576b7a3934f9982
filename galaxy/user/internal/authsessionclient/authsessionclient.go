// Package authsessionclient asks authsession, over its public gRPC API
// (galaxy.authsession.v1, platform/grpcclient), to revoke every session of
// a user. Each call carries its request's W3C trace; its deadline is the
// caller's.
package authsessionclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/platform/apierror"
	"galaxy/platform/grpcclient"
	"galaxy/user/internal/users"
)

// dependency names authsession in errors.
const dependency = "authsession"

// Client is a connection to authsession.
type Client struct {
	conn *grpcclient.Conn
	api  authsessionv1.AuthSessionServiceClient
}

var _ users.Revoker = (*Client)(nil)

// New returns a Client of the authsession at addr ("host:port"), each
// connection attempt given at least connectTimeout. It does not connect:
// the connection is made, and remade, as calls need it (platform/grpcclient,
// as the gateway's): a call that cannot be sent while a lost connection is
// being remade, as when authsession restarts on its address, waits for the
// new one within its deadline, for up to grpcclient.ReconnectWait after
// the loss, and no call is sent twice.
func New(addr string, connectTimeout time.Duration, opts ...grpc.DialOption) (*Client, error) {
	conn, err := grpcclient.Dial(addr, connectTimeout, opts...)
	if err != nil {
		return nil, fmt.Errorf("authsessionclient: %w", err)
	}
	return &Client{conn: conn, api: authsessionv1.NewAuthSessionServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// RevokeAllSessions implements users.Revoker. An answer without a status is
// the acknowledgement; any failure (authsession's own error, or one of the
// transport) is an error naming authsession, with the gRPC status as its
// cause.
func (c *Client) RevokeAllSessions(ctx context.Context, userID string) (int, error) {
	if _, ok := ctx.Deadline(); !ok {
		return 0, errors.New("authsessionclient: RevokeAllSessions needs a deadline")
	}
	resp, err := c.api.RevokeAllSessions(ctx, &authsessionv1.RevokeAllSessionsRequest{UserId: userID})
	if err != nil {
		e := apierror.FromGRPC(err, dependency)
		return 0, fmt.Errorf("authsession RevokeAllSessions: %s: %w", e.Code, err)
	}
	return int(resp.GetRevokedCount()), nil
}
