// Package ratelimit limits the rate of calls per key (an identity pool id, a
// client address) with a token bucket per key (golang.org/x/time/rate), in
// memory bounded by configuration: at most MaxKeys buckets are kept, the
// least recently used forgotten first (hashicorp/golang-lru). A forgotten key
// starts again with a full bucket, which is what an idle key has anyway.
package ratelimit

import (
	"errors"
	"fmt"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"github.com/cognitosync/cognitosync/internal/promreg"
	"math"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/cognitosync/cognitosync/syncapi"
)

// DefaultMaxKeys is Config.MaxKeys when zero: about 2 MB of buckets.
const DefaultMaxKeys = 10_000

// Config configures a Limiter.
type Config struct {
	Rate    float64 // calls per second per key; required, > 0
	Burst   int     // calls a key may make at once; 0: twice Rate, at least 1
	MaxKeys int     // keys remembered; 0: DefaultMaxKeys

	// Refusals are counted in cognitosync_throttled_requests_total with
	// these labels, when Registerer is set.
	Operation, Scope string
	Registerer       prometheus.Registerer

	Now func() time.Time // nil: time.Now
}

func (c *Config) setDefaults() {
	if c.Burst == 0 {
		c.Burst = max(1, int(math.Ceil(2*c.Rate)))
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if !(c.Rate > 0) || math.IsInf(c.Rate, 0) {
		errs = append(errs, fmt.Errorf("ratelimit: Rate %v must be a positive number", c.Rate))
	}
	if c.Burst < 0 {
		errs = append(errs, fmt.Errorf("ratelimit: Burst %d is negative", c.Burst))
	}
	if c.MaxKeys < 0 {
		errs = append(errs, fmt.Errorf("ratelimit: MaxKeys %d is negative", c.MaxKeys))
	}
	return errors.Join(errs...)
}

// Limiter is a token-bucket limiter per key. It is safe for concurrent use.
type Limiter struct {
	rate    rate.Limit
	burst   int
	now     func() time.Time
	buckets *lru.Cache[string, *rate.Limiter]
	refused prometheus.Counter
}

var _ syncapi.RateLimiter = (*Limiter)(nil)

// New returns a Limiter, or the Config's validation error.
func New(c Config) (*Limiter, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	buckets, err := lru.New[string, *rate.Limiter](c.MaxKeys)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	l := &Limiter{rate: rate.Limit(c.Rate), burst: c.Burst, now: c.Now, buckets: buckets}
	if c.Registerer != nil {
		vec := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricnames.MetricThrottledRequests,
			Help: "Requests refused with TooManyRequestsException by a rate limit, by operation and scope (pool, address).",
		}, []string{"operation", "scope"})
		vec, err := promreg.Register(c.Registerer, vec)
		if err != nil {
			return nil, err
		}
		l.refused = vec.WithLabelValues(c.Operation, c.Scope)
	}
	return l, nil
}

// Allow reports whether key may make one more call now, and takes a token
// from its bucket if so.
func (l *Limiter) Allow(key string) bool {
	b, ok := l.buckets.Get(key)
	if !ok {
		b = rate.NewLimiter(l.rate, l.burst)
		if prev, found, _ := l.buckets.PeekOrAdd(key, b); found {
			b = prev
		}
	}
	if b.AllowN(l.now(), 1) {
		return true
	}
	if l.refused != nil {
		l.refused.Inc()
	}
	return false
}

// Len is the number of keys remembered, at most MaxKeys.
func (l *Limiter) Len() int { return l.buckets.Len() }
