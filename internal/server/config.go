package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/pipeline/outbox"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/idtoken"
)

// Config configures a Server. The commands fill it from their flags
// (internal/cliconfig.Service holds the flags syncd and the worker share);
// tests fill it directly.
type Config struct {
	// Listen is the address the Cognito Sync and Cognito Identity APIs,
	// /metrics and /healthz are served on; required. Port 0 picks a free
	// port (see Addr).
	Listen string
	// MetricsListen, when set, also serves /metrics and /healthz there.
	MetricsListen string

	// Store is an open store that the caller owns and closes (tests inject
	// one). nil: New opens StoreURL, or SQLite in DataDir, and Close closes
	// it. With Stream, the store must also be an outbox.Store and an
	// outbox.BulkStore (as *sqlstore.DB is).
	Store syncapi.Store
	// StoreURL is a postgres:// URL; "": SQLite in DataDir.
	StoreURL string
	// DataDir is the directory of the SQLite database (syncd.db), created
	// if missing; required when neither Store nor StoreURL is set.
	DataDir string

	// SQLiteMaxBytes caps the SQLite database file: past it writes answer a
	// retryable 503 and /healthz is unhealthy, before the disk fills up;
	// 0: no cap. Ignored with Store or StoreURL.
	SQLiteMaxBytes int64
	// CredentialCacheSize bounds the identity credentials held in memory;
	// 0: auth.DefaultCacheSize.
	CredentialCacheSize int
	// GCInterval is how often expired credentials and idle guest
	// identities are collected (syncapi/gc, one process at a time through
	// a lease); 0: gc.DefaultInterval. GuestIdentityTTL is the age at which
	// a guest identity that never stored anything is deleted; 0: never.
	GCInterval, GuestIdentityTTL time.Duration

	// Region is the region clients sign for and the prefix of new ids;
	// required.
	Region string
	// AccountID is LastModifiedBy of developer writes; "": 000000000000.
	AccountID string
	// DeveloperKeys are the developer credentials; at least one is
	// required (NewDeveloperKey makes one). The first is the one
	// AsDeveloper acts with.
	DeveloperKeys []DeveloperKey
	// Limits bound datasets and records; zero fields: AWS's limits.
	Limits syncapi.Limits
	// SessionTTL is the SyncSessionToken lifetime; 0: 1 h.
	SessionTTL time.Duration
	// CredentialTTL is the lifetime of GetCredentialsForIdentity
	// credentials; 0: 1 h.
	CredentialTTL time.Duration
	// Owner names this process in leases and bulk jobs; "": ProcessOwner().
	Owner string

	// Pools are created at start-up when missing (unauthenticated
	// identities allowed), named PoolName ("": "syncd").
	Pools    []string
	PoolName string
	// PoolStream, when set, also turns each of Pools' Cognito stream on at
	// start-up, to this stream name (the worker's embedded mode, whose
	// pools stream to its in-process stream).
	PoolStream string

	// Trigger runs pools' SyncTrigger functions; nil: the Lambda Invoke API
	// through AWS (see below). Counted in MetricTriggerInvocations either
	// way.
	Trigger syncapi.TriggerInvoker
	// AWS is the configuration the Lambda client of SyncTrigger functions
	// is built from (the command loads the standard chain). nil with no
	// Trigger: no invoker, so an identity write to a pool that has a
	// SyncTrigger fails closed (tests never reach AWS by accident).
	AWS *aws.Config
	// LambdaEndpoint is a Lambda-compatible Invoke API endpoint (e.g. the
	// Lambda Runtime Interface Emulator); "": AWS Lambda. Such an endpoint
	// gets placeholder credentials when AWS has none.
	LambdaEndpoint string
	// LambdaFunctionName, when set, is invoked instead of every SyncTrigger
	// ARN (the emulator serves only "function").
	LambdaFunctionName string

	// Clients bound what one client may hold and how often guests may
	// call GetId and GetCredentialsForIdentity.
	Clients ClientLimits

	// Logins configures logged-in identities: syncd's own OpenID tokens
	// and the login providers it verifies.
	Logins Logins
	// Push delivers push sync notifications; the zero value delivers none
	// (they stay queued).
	Push Push

	// Stream is where changes of streaming pools and bulk publish jobs go;
	// nil: nowhere (changes wait in the outbox; BulkPublish ends FAILED).
	Stream *Stream

	// Registry receives every metric of the server, and /metrics serves
	// it: pass the process's one registry. nil: a new one with the Go and
	// process collectors.
	Registry *prometheus.Registry
	// ShutdownTimeout bounds the graceful shutdown of in-flight requests
	// when Run's context ends; 0: 15 s.
	ShutdownTimeout time.Duration
	Log             *slog.Logger // nil: discard
	Now             func() time.Time
}

// Stream says where the outbox forwarder and the bulk runner publish
// (pipeline/outbox): Kinesis for syncd, the in-process stream for the
// worker's embedded mode. The topic of every message is the pool's
// StreamName. The caller owns the publishers.
type Stream struct {
	// Publisher receives every change of a pool whose Cognito stream is
	// ENABLED, in commit order per identity; required.
	Publisher message.Publisher
	// Bulk receives the records of bulk publish jobs, one per dataset, in
	// no particular order (spec D.3), so it may batch freely; nil:
	// Publisher.
	Bulk message.Publisher
	// Offload stores records larger than MaxRecordBytes (syncd: S3); nil:
	// see outbox.ForwarderConfig.Offload.
	Offload outbox.Offloader
	// MaxRecordBytes is the largest record sent inline; 0: Kinesis' limit;
	// < 0: no limit.
	MaxRecordBytes int
}

// Logins configures syncd's OpenID tokens and the issuers whose login
// tokens it accepts (syncapi/idtoken).
type Logins struct {
	// PublicURL is syncd's URL as clients and relying parties reach it:
	// the issuer (iss) of the tokens it signs and the base of
	// /.well-known/openid-configuration; "": http://<listen address>.
	PublicURL string
	// OIDCProviders are the OpenID Connect issuers the operator trusts
	// (--oidc-provider).
	OIDCProviders []idtoken.Provider
	// GoogleIssuer, AppleIssuer and CognitoIDPURL replace the real issuer
	// URLs of Google, Apple and Cognito user pools (tests); "": the real
	// ones.
	GoogleIssuer, AppleIssuer, CognitoIDPURL string
	// MinRefetch bounds how often an issuer's keys are fetched again for
	// a token with an unknown key id; 0: idtoken.DefaultMinRefetch.
	MinRefetch time.Duration
	// HTTPClient fetches issuers' discovery documents and keys; nil: a
	// client with a 10 s timeout.
	HTTPClient *http.Client
	// FallbackURL is the Cognito Identity this syncd replaces during a
	// move ("aws": AWS in Region; a URL: another syncd): a valid login no
	// identity holds is resolved once by GetId there and linked to the
	// imported identity (syncapi.LoginFallback); "": none.
	FallbackURL string
}

// DeveloperKey is one pair of developer credentials.
type DeveloperKey struct{ ID, Secret string }

func (c *Config) setDefaults() {
	if c.AccountID == "" {
		c.AccountID = "000000000000"
	}
	if c.Owner == "" {
		c.Owner = ProcessOwner()
	}
	if c.PoolName == "" {
		c.PoolName = "syncd"
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Stream != nil && c.Stream.Bulk == nil {
		s := *c.Stream
		s.Bulk = s.Publisher
		c.Stream = &s
	}
}

// Validate reports every invalid setting at once.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("server: Listen is required"))
	}
	switch {
	case c.Store != nil:
		if c.Stream != nil {
			if _, ok := c.Store.(streamStore); !ok {
				errs = append(errs, fmt.Errorf("server: Stream needs a store with an outbox, leases and bulk jobs; %T has not", c.Store))
			}
		}
	case c.StoreURL != "":
		if !strings.HasPrefix(c.StoreURL, "postgres://") && !strings.HasPrefix(c.StoreURL, "postgresql://") {
			errs = append(errs, errors.New("server: StoreURL must be a postgres:// URL (SQLite lives in DataDir)"))
		}
	case c.DataDir == "":
		errs = append(errs, errors.New("server: one of Store, StoreURL and DataDir is required"))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("server: Region is required"))
	}
	if len(c.DeveloperKeys) == 0 {
		errs = append(errs, errors.New("server: at least one developer key is required"))
	}
	for _, k := range c.DeveloperKeys {
		if k.ID == "" || k.Secret == "" || strings.ContainsRune(k.ID, ':') {
			errs = append(errs, fmt.Errorf("server: developer key %q: want an access key id without ':' and a secret", k.ID))
		}
	}
	if c.Limits.MaxDatasets < 0 || c.Limits.MaxRecords < 0 || c.Limits.MaxDatasetBytes < 0 {
		errs = append(errs, errors.New("server: Limits must not be negative"))
	}
	if c.SQLiteMaxBytes < 0 || c.CredentialCacheSize < 0 || c.GCInterval < 0 || c.GuestIdentityTTL < 0 {
		errs = append(errs, errors.New("server: SQLiteMaxBytes, CredentialCacheSize, GCInterval and GuestIdentityTTL must not be negative"))
	}
	if c.SessionTTL < 0 || c.CredentialTTL < 0 || c.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("server: SessionTTL, CredentialTTL and ShutdownTimeout must not be negative"))
	}
	if c.LambdaEndpoint != "" && !strings.HasPrefix(c.LambdaEndpoint, "http://") && !strings.HasPrefix(c.LambdaEndpoint, "https://") {
		errs = append(errs, fmt.Errorf("server: LambdaEndpoint must be an http:// or https:// URL, got %q", c.LambdaEndpoint))
	}
	errs = append(errs, c.Clients.validate()...)
	for _, p := range c.Logins.OIDCProviders {
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("server: %w", err))
		}
	}
	if u := c.Logins.PublicURL; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		errs = append(errs, fmt.Errorf("server: PublicURL must be an http:// or https:// URL, got %q", u))
	}
	errs = append(errs, c.Push.validate()...)
	if c.Stream != nil && c.Stream.Publisher == nil {
		errs = append(errs, errors.New("server: Stream.Publisher is required"))
	}
	return errors.Join(errs...)
}

// streamStore is what the outbox forwarder and the bulk runner need of the
// store, beyond syncapi.Store.
type streamStore interface {
	outbox.Store
	outbox.BulkStore
}
