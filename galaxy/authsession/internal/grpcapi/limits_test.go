package grpcapi_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/authsession/internal/auth"
	"galaxy/platform/grpcserver"
)

// countingService counts the calls that reach the service.
type countingService struct {
	stubService
	calls *atomic.Int32
}

func (s countingService) StartEmailLogin(context.Context, string, string) (auth.StartResult, error) {
	s.calls.Add(1)
	return auth.StartResult{ChallengeID: "ch-1", ExpiresAt: time.Now().Add(time.Minute)}, nil
}

// TestMetadataSizeLimit checks that authsession serves with the limits of a
// public server: a call whose metadata exceeds 16 KiB is refused at once
// (grpc-go learns the limit from the server's SETTINGS and refuses the call
// itself with INTERNAL) and never reaches the service, while a call within
// the limit on the same connection is served.
func TestMetadataSizeLimit(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	conn, logs := serve(t, countingService{calls: &calls})
	client := authsessionv1.NewAuthSessionServiceClient(conn)

	ctx := metadata.AppendToOutgoingContext(t.Context(), "x-padding", strings.Repeat("a", grpcserver.MaxHeaderListSize+1))
	start := time.Now()
	_, err := client.StartEmailLogin(ctx, &authsessionv1.StartEmailLoginRequest{Email: "a@b.c"})
	if got := status.Code(err); got != codes.Internal {
		t.Errorf("oversized metadata: code = %s, want Internal (%v)", got, err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("oversized metadata refused after %v, want at once", elapsed)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("service calls after oversized metadata = %d, want 0", n)
	}
	if out := logs.String(); strings.Contains(out, `"msg":"grpc call"`) {
		t.Errorf("the handler ran for oversized metadata:\n%s", out)
	}

	if _, err := client.StartEmailLogin(t.Context(), &authsessionv1.StartEmailLoginRequest{Email: "a@b.c"}); err != nil {
		t.Errorf("call within the limit: error = %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("service calls = %d, want 1", n)
	}
}
