package grpcapi_test

import (
	"sync/atomic"
	"testing"

	"galaxy/authsession/api/authsessionv1"
	"galaxy/authsession/internal/grpcapi"
	"galaxy/platform/grpcserver/grpcservertest"
)

// TestMalformedRequest sends request bodies that are no valid protobuf
// message on the wire to every method: each answers INVALID_ARGUMENT with
// the table's code, never INTERNAL, and never reaches the service.
func TestMalformedRequest(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	conn, _ := serve(t, countingService{calls: &calls})
	for _, m := range authsessionv1.AuthSessionService_ServiceDesc.Methods {
		method := "/" + authsessionv1.AuthSessionService_ServiceDesc.ServiceName + "/" + m.MethodName
		for _, tc := range grpcservertest.Malformed {
			t.Run(m.MethodName+"/"+tc.Name, func(t *testing.T) {
				err := grpcservertest.Invoke(t.Context(), conn, method, tc.Wire)
				grpcservertest.WantInvalidArgument(t, err, grpcapi.Domain)
			})
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("service calls = %d, want none", n)
	}
}
