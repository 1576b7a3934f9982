// Package platform holds the plumbing every galaxy binary shares, written
// once: a binary's wiring (service: logger, readiness, servers run and
// drained), configuration from the environment (envconfig), structured
// logging (logging), the W3C trace context carried across hops
// (tracecontext), the gRPC server with its limits and interceptors
// (grpcserver), the gRPC connection to another service, which waits out a
// restart of that service (grpcclient), the HTTP JSON server with its
// middleware and strict request bodies (httpserver), the Redis client setup
// (redisconn), the public session key (sessionkey), the email
// normalisation policy (email), the error table (apierror), the ready-file
// handshake (readyfile), readiness checks (readiness), a listen-first
// server lifecycle that drains every server at once within a bound
// (lifecycle), the bounded waits of tests (testwait) and a cmd test's run
// of its built binary (binarytest).
package platform
