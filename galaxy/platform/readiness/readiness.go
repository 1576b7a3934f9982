// Package readiness answers whether a service can serve: every one of its
// hard dependencies answers. The answer comes within a short bound of its
// own, whatever the dependencies' call deadlines, so a probe with a short
// timeout sees "not ready" rather than a timeout when a dependency hangs.
// The HTTP readiness probe and the grpc.health.v1 service of a binary ask
// the same Checker, so they always agree.
package readiness

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"galaxy/platform/apierror"
)

// Dependency is a hard dependency: the service is not ready while Check
// fails.
type Dependency struct {
	// Name names it in DEPENDENCY_UNAVAILABLE ("redis", "authsession").
	Name string
	// Check reports whether it answers. It must return once ctx ends.
	Check func(ctx context.Context) error
}

// errNoAnswer is the cause of a dependency that did not answer within the
// bound.
var errNoAnswer = errors.New("no answer within the readiness bound")

// Checker checks a fixed set of dependencies. Callers that arrive while a
// check is running share its answer, so a flood of probes asks each
// dependency at most once at a time.
type Checker struct {
	deps    []Dependency
	timeout time.Duration

	mu      sync.Mutex
	running *round // nil when no check runs
}

type round struct {
	done chan struct{}
	err  error
}

// New returns a Checker of deps, each check bounded by timeout.
func New(timeout time.Duration, deps ...Dependency) (*Checker, error) {
	if timeout <= 0 {
		return nil, errors.New("readiness: timeout must be positive")
	}
	seen := make(map[string]bool, len(deps))
	for _, d := range deps {
		switch {
		case d.Name == "":
			return nil, errors.New("readiness: a dependency has no name")
		case d.Check == nil:
			return nil, fmt.Errorf("readiness: dependency %q has no check", d.Name)
		case seen[d.Name]:
			return nil, fmt.Errorf("readiness: dependency %q given twice", d.Name)
		}
		seen[d.Name] = true
	}
	return &Checker{deps: append([]Dependency(nil), deps...), timeout: timeout}, nil
}

// Timeout is the bound of one check.
func (c *Checker) Timeout() time.Duration { return c.timeout }

// Check asks every dependency at once and returns nil when all answered
// within the bound, or else a DEPENDENCY_UNAVAILABLE error whose metadata
// names the first failed dependency (in the order given to New) as
// "dependency" and every failed one as "dependencies". A dependency still
// silent at the bound has failed. When ctx ends first, Check returns
// ctx.Err(): the caller gave up, which says nothing about the dependencies.
func (c *Checker) Check(ctx context.Context) error {
	r := c.join(ctx)
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// join returns the running round, starting one if none runs. A round does
// not end with the caller that started it: the others may still wait on it.
func (c *Checker) join(ctx context.Context) *round {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running != nil {
		return c.running
	}
	r := &round{done: make(chan struct{})}
	c.running = r
	go func() {
		r.err = c.run(context.WithoutCancel(ctx))
		c.mu.Lock()
		c.running = nil
		c.mu.Unlock()
		close(r.done)
	}()
	return r
}

// run checks every dependency concurrently within the bound. A check that
// ignores its context is abandoned at the bound, not waited for.
func (c *Checker) run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(c.deps))
	for i, d := range c.deps {
		go func() { results <- result{i, d.Check(ctx)} }()
	}
	errs := make([]error, len(c.deps))
	answered := make([]bool, len(c.deps))
wait:
	for range c.deps {
		select {
		case r := <-results:
			errs[r.i], answered[r.i] = r.err, true
		case <-ctx.Done():
			break wait
		}
	}
	var failed []string
	var causes []error
	for i, d := range c.deps {
		err := errs[i]
		if !answered[i] {
			err = errNoAnswer
		}
		if err != nil {
			failed = append(failed, d.Name)
			causes = append(causes, fmt.Errorf("%s: %w", d.Name, err))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return apierror.Dependencies(failed, errors.Join(causes...))
}
