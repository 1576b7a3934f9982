package grpcapi_test

import (
	"testing"

	"galaxy/gateway/api/gatewayv1"
	"galaxy/gateway/internal/grpcapi"
	"galaxy/platform/grpcserver/grpcservertest"
)

// TestMalformedRequest sends request bodies that are no valid protobuf
// message on the wire: each answers INVALID_ARGUMENT with the table's code,
// never INTERNAL, and none reaches authsession.
func TestMalformedRequest(t *testing.T) {
	t.Parallel()
	st, c := newStack(t)
	for _, method := range []string{
		gatewayv1.GatewayService_StartEmailLogin_FullMethodName,
		gatewayv1.GatewayService_ConfirmEmailLogin_FullMethodName,
		gatewayv1.GatewayService_RefreshSession_FullMethodName,
		gatewayv1.GatewayService_RevokeSession_FullMethodName,
	} {
		for _, tc := range grpcservertest.Malformed {
			t.Run(method+"/"+tc.Name, func(t *testing.T) {
				err := grpcservertest.Invoke(t.Context(), c.cc, method, tc.Wire)
				grpcservertest.WantInvalidArgument(t, err, grpcapi.Domain)
			})
		}
	}
	if calls := st.Auth.Calls(); len(calls) != 0 {
		t.Errorf("authsession calls = %q, want none", calls)
	}
}
