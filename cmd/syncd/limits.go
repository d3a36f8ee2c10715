package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/internal/httplimit"
	"github.com/cognitosync/cognitosync/internal/ratelimit"
	"github.com/cognitosync/cognitosync/syncapi"
)

// Default rates of the unsigned guest calls, in calls per second. Per pool
// they are AWS's quotas (spec B.2), which AWS applies per account, so an app
// AWS never throttled is not throttled here; per address they leave room for
// many devices behind one NAT (an app calls GetId once per install and
// GetCredentialsForIdentity about once an hour per device).
const (
	defaultGetIDRate                    = 25
	defaultGetIDRatePerAddress          = 10
	defaultGetCredentialsRate           = 200
	defaultGetCredentialsRatePerAddress = 50
)

// validateLimits checks the transport and rate limit settings.
func (c Config) validateLimits() []error {
	var errs []error
	if c.MaxConnections < 1 {
		errs = append(errs, fmt.Errorf("--max-connections must be positive, got %d", c.MaxConnections))
	}
	for _, d := range []struct {
		flag string
		v    any
		ok   bool
	}{
		{"--read-header-timeout", c.ReadHeaderTimeout, c.ReadHeaderTimeout > 0},
		{"--read-timeout", c.ReadTimeout, c.ReadTimeout > 0},
		{"--write-timeout", c.WriteTimeout, c.WriteTimeout > 0},
		{"--idle-timeout", c.IdleTimeout, c.IdleTimeout > 0},
		{"--max-header-bytes", c.MaxHeaderBytes, c.MaxHeaderBytes > 0},
		{"--max-body-bytes", c.MaxBodyBytes, c.MaxBodyBytes > 0},
		{"--max-unsigned-body-bytes", c.MaxUnsignedBodyBytes, c.MaxUnsignedBodyBytes > 0},
		{"--max-inflight-body-bytes", c.MaxInflightBodyBytes, c.MaxInflightBodyBytes > 0},
	} {
		if !d.ok {
			errs = append(errs, fmt.Errorf("%s must be positive, got %v", d.flag, d.v))
		}
	}
	if c.ReadHeaderTimeout > c.ReadTimeout {
		errs = append(errs, fmt.Errorf("--read-header-timeout %v is longer than --read-timeout %v, which includes it", c.ReadHeaderTimeout, c.ReadTimeout))
	}
	if c.MaxInflightBodyBytes < c.MaxBodyBytes {
		errs = append(errs, fmt.Errorf("--max-inflight-body-bytes %d is below --max-body-bytes %d: the largest body could never be read", c.MaxInflightBodyBytes, c.MaxBodyBytes))
	}
	for _, r := range []struct {
		flag string
		v    float64
	}{
		{"--get-id-rate", c.GetIDRate}, {"--get-id-rate-per-address", c.GetIDRatePerAddress},
		{"--get-credentials-rate", c.GetCredentialsRate}, {"--get-credentials-rate-per-address", c.GetCredentialsRatePerAddress},
	} {
		if r.v < 0 || math.IsNaN(r.v) || math.IsInf(r.v, 0) {
			errs = append(errs, fmt.Errorf("%s must be a rate per second, 0 for none, got %v", r.flag, r.v))
		}
	}
	return errs
}

// guard is the connection and request limits of the API listener.
func (c Config) guard(reg prometheus.Registerer, log *slog.Logger) (*httplimit.Guard, error) {
	return httplimit.New(httplimit.Config{
		MaxConns:             c.MaxConnections,
		ReadHeaderTimeout:    c.ReadHeaderTimeout,
		ReadTimeout:          c.ReadTimeout,
		WriteTimeout:         c.WriteTimeout,
		IdleTimeout:          c.IdleTimeout,
		MaxHeaderBytes:       c.MaxHeaderBytes,
		MaxBodyBytesInFlight: c.MaxInflightBodyBytes,
		Registerer:           reg,
		Log:                  log,
	})
}

// guestLimits are the rate limiters of the unsigned Cognito Identity calls.
type guestLimits struct {
	getIDPerPool, credentialsPerPool syncapi.RateLimiter            // for the Service
	perAddress                       map[string]syncapi.RateLimiter // for the wire handler, by operation
}

func (c Config) guestLimits(reg prometheus.Registerer) (guestLimits, error) {
	var g guestLimits
	var errs []error
	limiter := func(rate float64, op, scope string) syncapi.RateLimiter {
		if rate == 0 {
			return nil // unlimited; not a nil *ratelimit.Limiter in the interface
		}
		l, err := ratelimit.New(ratelimit.Config{Rate: rate, Operation: op, Scope: scope, Registerer: reg})
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		return l
	}
	g.getIDPerPool = limiter(c.GetIDRate, "GetId", "pool")
	g.credentialsPerPool = limiter(c.GetCredentialsRate, "GetCredentialsForIdentity", "pool")
	g.perAddress = map[string]syncapi.RateLimiter{}
	if l := limiter(c.GetIDRatePerAddress, "GetId", "address"); l != nil {
		g.perAddress["GetId"] = l
	}
	if l := limiter(c.GetCredentialsRatePerAddress, "GetCredentialsForIdentity", "address"); l != nil {
		g.perAddress["GetCredentialsForIdentity"] = l
	}
	return g, errors.Join(errs...)
}
