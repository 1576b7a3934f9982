package grpcserver

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"galaxy/platform/apierror"
)

// codec is the server's protobuf codec. gRPC turns any error of a codec
// into INTERNAL carrying the library's own text, and decodes a unary
// request before any interceptor runs, so a malformed request (invalid
// UTF-8 in a string field, a truncated varint, bytes that are no field)
// would answer INTERNAL: the server's fault, not the caller's. Instead the
// codec remembers the message it could not decode, and the interceptors
// answer for it with INVALID_ARGUMENT before the handler sees it.
type codec struct {
	proto     encoding.CodecV2
	malformed sync.Map // message pointer → struct{}, until the interceptor takes it
}

func newCodec() *codec { return &codec{proto: encoding.GetCodecV2(protoenc.Name)} }

func (c *codec) Name() string { return protoenc.Name }

func (c *codec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c *codec) Unmarshal(data mem.BufferSlice, v any) error {
	if err := c.proto.Unmarshal(data, v); err != nil {
		if _, ok := v.(proto.Message); !ok {
			return err // not a request the interceptors can recognise
		}
		c.malformed.Store(v, struct{}{})
	}
	return nil
}

// check returns the INVALID_ARGUMENT error of a message the codec could not
// decode, once, and nil for any other message.
func (c *codec) check(m any) error {
	if _, bad := c.malformed.LoadAndDelete(m); !bad {
		return nil
	}
	name := "request"
	if pm, ok := m.(proto.Message); ok {
		name = string(proto.MessageName(pm)) + " message"
	}
	return apierror.New(apierror.InvalidArgument, "the request is not a valid %s", name)
}

// refuseMalformed answers a unary call whose request could not be decoded
// with INVALID_ARGUMENT; the handler never sees it.
func (c *codec) refuseMalformed(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if err := c.check(req); err != nil {
		return nil, err
	}
	return next(ctx, req)
}

// refuseMalformedStream makes a stream's RecvMsg fail with INVALID_ARGUMENT
// (ErrorInfo with domain) for a message that could not be decoded.
func (c *codec) refuseMalformedStream(domain string) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, next grpc.StreamHandler) error {
		return next(srv, &checkedStream{ServerStream: ss, codec: c, domain: domain})
	}
}

type checkedStream struct {
	grpc.ServerStream
	codec  *codec
	domain string
}

func (s *checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if err := s.codec.check(m); err != nil {
		return apierror.GRPCStatus(err, s.domain).Err()
	}
	return nil
}
