package server

import (
	"errors"
	"fmt"
	"math"
	"time"

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
	DefaultGetIDRate                    = 25
	DefaultGetIDRatePerAddress          = 10
	DefaultGetCredentialsRate           = 200
	DefaultGetCredentialsRatePerAddress = 50
)

// ClientLimits bound what one client may hold: connections, the time to
// send a request and to take its response, header and body sizes, body
// bytes held in memory at once, and the rate of the unsigned guest calls.
// Zero durations and sizes take the internal/httplimit and
// syncapi/httpapi defaults; a zero rate is no limit (commands set
// DefaultClientLimits through their flags).
type ClientLimits struct {
	MaxConnections       int
	ReadHeaderTimeout    time.Duration
	ReadTimeout          time.Duration
	WriteTimeout         time.Duration
	IdleTimeout          time.Duration
	MaxHeaderBytes       int
	MaxBodyBytes         int64
	MaxUnsignedBodyBytes int64
	MaxInflightBodyBytes int64
	// Rates of the unsigned GetId and GetCredentialsForIdentity calls, per
	// second, per identity pool and per client address; 0: none.
	GetIDRate, GetIDRatePerAddress                   float64
	GetCredentialsRate, GetCredentialsRatePerAddress float64
	// ClientAddressHeader names the header a trusted proxy puts the
	// client's address in; "": the peer address.
	ClientAddressHeader string
}

// validate reports negative sizes and durations and rates that are not a
// finite, non-negative number.
func (l ClientLimits) validate() []error {
	var errs []error
	if l.MaxConnections < 0 || l.MaxHeaderBytes < 0 || l.MaxBodyBytes < 0 || l.MaxUnsignedBodyBytes < 0 || l.MaxInflightBodyBytes < 0 {
		errs = append(errs, errors.New("server: ClientLimits sizes must not be negative"))
	}
	if l.ReadHeaderTimeout < 0 || l.ReadTimeout < 0 || l.WriteTimeout < 0 || l.IdleTimeout < 0 {
		errs = append(errs, errors.New("server: ClientLimits timeouts must not be negative"))
	}
	for _, r := range []float64{l.GetIDRate, l.GetIDRatePerAddress, l.GetCredentialsRate, l.GetCredentialsRatePerAddress} {
		if r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
			errs = append(errs, fmt.Errorf("server: ClientLimits rates must be a finite rate per second, 0 for none, got %v", r))
		}
	}
	return errs
}

// guard is the connection and request limits of every listener.
func (l ClientLimits) guard(reg prometheus.Registerer, c Config) (*httplimit.Guard, error) {
	return httplimit.New(httplimit.Config{
		MaxConns:             l.MaxConnections,
		ReadHeaderTimeout:    l.ReadHeaderTimeout,
		ReadTimeout:          l.ReadTimeout,
		WriteTimeout:         l.WriteTimeout,
		IdleTimeout:          l.IdleTimeout,
		MaxHeaderBytes:       l.MaxHeaderBytes,
		MaxBodyBytesInFlight: l.MaxInflightBodyBytes,
		Registerer:           reg,
		Log:                  c.Log,
	})
}

// guestLimits are the rate limiters of the unsigned Cognito Identity calls.
type guestLimits struct {
	getIDPerPool, credentialsPerPool syncapi.RateLimiter            // for the Service
	perAddress                       map[string]syncapi.RateLimiter // for the wire handler, by operation
}

func (l ClientLimits) guestLimits(reg prometheus.Registerer) (guestLimits, error) {
	var g guestLimits
	var errs []error
	limiter := func(rate float64, op, scope string) syncapi.RateLimiter {
		if rate == 0 {
			return nil // unlimited; not a nil *ratelimit.Limiter in the interface
		}
		rl, err := ratelimit.New(ratelimit.Config{Rate: rate, Operation: op, Scope: scope, Registerer: reg})
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		return rl
	}
	g.getIDPerPool = limiter(l.GetIDRate, "GetId", "pool")
	g.credentialsPerPool = limiter(l.GetCredentialsRate, "GetCredentialsForIdentity", "pool")
	g.perAddress = map[string]syncapi.RateLimiter{}
	if rl := limiter(l.GetIDRatePerAddress, "GetId", "address"); rl != nil {
		g.perAddress["GetId"] = rl
	}
	if rl := limiter(l.GetCredentialsRatePerAddress, "GetCredentialsForIdentity", "address"); rl != nil {
		g.perAddress["GetCredentialsForIdentity"] = rl
	}
	return g, errors.Join(errs...)
}
