// Package grpcservertest helps tests send what no protobuf library would
// encode to a gRPC server and check its answer.
package grpcservertest

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"galaxy/platform/apierror"
)

// RawCodec sends and receives messages as the bytes they are on the wire:
// a request is a []byte, a response is read into a *[]byte.
type RawCodec struct{}

// Name is the content subtype the server sees: "proto".
func (RawCodec) Name() string { return "proto" }

// Marshal sends v, a []byte, as it is.
func (RawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

// Unmarshal stores the message's bytes in v, a *[]byte.
func (RawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

// Case is a request body that is no valid protobuf message of any type
// whose field 1 is a string (every galaxy request that has fields).
type Case struct {
	Name string
	Wire []byte
}

// Malformed lists the ways a request body can be broken on the wire.
var Malformed = []Case{
	{"invalid UTF-8 in a string field", []byte{0x0a, 0x02, 0xff, 0xfe}},
	{"truncated varint", []byte{0x10, 0x80}},
	{"length past the end", []byte{0x0a, 0x05, 'a'}},
	{"trailing garbage", []byte{0x0a, 0x01, 'a', 0xff}},
	{"invalid wire type", []byte{0x0f}},
	{"end group without a start", []byte{0x0c}},
}

// Invoke calls method on conn with wire as the request body.
func Invoke(ctx context.Context, conn grpc.ClientConnInterface, method string, wire []byte) error {
	var out []byte
	return conn.Invoke(ctx, method, wire, &out, grpc.ForceCodecV2(RawCodec{}))
}

// WantInvalidArgument fails unless err is INVALID_ARGUMENT carrying an
// ErrorInfo with the table's INVALID_ARGUMENT code and domain, its message
// free of the protobuf library's text.
func WantInvalidArgument(tb testing.TB, err error, domain string) {
	tb.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		tb.Fatalf("code = %s, want InvalidArgument (%v)", st.Code(), err)
	}
	if msg := st.Message(); strings.Contains(msg, "proto:") || strings.Contains(msg, "unmarshal") {
		tb.Errorf("message %q passes on the library's text", msg)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.GetReason() != string(apierror.InvalidArgument) || info.GetDomain() != domain {
				tb.Errorf("ErrorInfo = %v, want reason %s domain %s", info, apierror.InvalidArgument, domain)
			}
			return
		}
	}
	tb.Errorf("status %v carries no ErrorInfo", st.Proto())
}
