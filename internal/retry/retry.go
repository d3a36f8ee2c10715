// Package retry is the one backoff and the one context-aware sleep of the
// tree. The backoff is github.com/cenkalti/backoff/v5's ExponentialBackOff;
// this package only fixes how a configuration of two durations (the first
// wait and the longest) maps onto it, so that every retry loop (Kinesis
// calls, checkpoint saves, the router's sinks, the webhook sink, bulk
// publish) waits alike and a flag such as the worker's --retry-max means
// the same everywhere: no single wait is longer.
package retry

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Default durations of a zero Backoff.
const (
	DefaultInitial = 100 * time.Millisecond
	DefaultMax     = 30 * time.Second
)

// Backoff configures a capped exponential backoff with jitter: retry n
// (0-based) waits a random duration in [d/2, d], d = min(Max, Initial·2ⁿ),
// so that many readers or writers failing at once do not retry in
// lockstep; with FullJitter the wait is anywhere in [0, d] (for clients of
// a third-party endpoint, as AWS's architecture blog recommends). The
// zero value waits DefaultInitial, doubling up to DefaultMax.
type Backoff struct {
	Initial time.Duration // the first wait's upper bound; 0: DefaultInitial
	Max     time.Duration // no wait is longer; 0: DefaultMax (at least Initial)
	// FullJitter spreads each wait over [0, d] instead of [d/2, d].
	FullJitter bool
}

// WithDefaults returns b with its zero durations replaced by initial and
// max: each package keeps its own defaults (Kinesis retries cap at 5 s,
// sinks at 30 s).
func (b Backoff) WithDefaults(initial, max time.Duration) Backoff {
	if b.Initial <= 0 {
		b.Initial = initial
	}
	if b.Max <= 0 {
		b.Max = max
	}
	return b
}

// New returns the state of one retry loop: call NextBackOff before each
// retry and Reset after a success. The state is not safe for concurrent
// use; every loop makes its own.
func (b Backoff) New() *backoff.ExponentialBackOff {
	b = b.WithDefaults(DefaultInitial, DefaultMax)
	b.Max = max(b.Max, b.Initial)
	// cenkalti draws from [c·(1-f), c·(1+f)] around an interval c that
	// grows by Multiplier up to MaxInterval: f = 1/3 and c = 3d/4 give
	// [d/2, d]; f = 1 and c = d/2 give [0, d].
	num, den, f := int64(3), int64(4), 1.0/3
	if b.FullJitter {
		num, den, f = 1, 2, 1
	}
	e := &backoff.ExponentialBackOff{
		InitialInterval:     time.Duration(int64(b.Initial) * num / den),
		RandomizationFactor: f,
		Multiplier:          2,
		MaxInterval:         time.Duration(int64(b.Max) * num / den),
	}
	e.Reset()
	return e
}

// Sleep waits d or until ctx is done, whichever comes first. It returns nil
// after a full wait and ctx's cause otherwise, also when d <= 0 and ctx is
// already done, so that a retry loop stops as soon as its context ends.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
