// Package client is a typed Cognito Sync client in the aws-sdk-go-v2 idiom.
// aws-sdk-go-v2 has no Cognito Sync client, so this one speaks the rest-json
// wire of spec A itself: it builds requests from httpapi.Operations, signs
// them with the SDK's SigV4 signer, retries through an aws.Retryer and maps
// AWS error codes back to the syncapi sentinels. It works against AWS Cognito
// Sync and against syncd.
//
// For the Cognito Identity subset (spec G) Client.Identity returns the SDK's
// own cognitoidentity client, configured with the same region, endpoint,
// credentials and HTTP client.
package client

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"

	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/httpapi"
)

// ServiceID is the service name in *smithy.OperationError values returned by
// Client methods.
const ServiceID = "Cognito Sync"

// userAgent identifies this client; the signer ignores User-Agent.
const userAgent = "cognitosync-go-client/1"

var _ syncapi.SyncAPI = (*Client)(nil)

// Options configures a Client. The zero value of every field has a default;
// see New.
type Options struct {
	// Region is the signing region and selects the AWS endpoint. Required
	// unless requests are unsigned and BaseEndpoint is set.
	Region string

	// BaseEndpoint is the endpoint URL, e.g. "http://localhost:8080" for
	// syncd; it may carry a path prefix. nil: https://cognito-sync.<region>.amazonaws.com.
	BaseEndpoint *string

	// Credentials sign every request; they are retrieved once per attempt.
	// A provider that is not already an *aws.CredentialsCache is wrapped in
	// one. nil or aws.AnonymousCredentials: requests are sent unsigned.
	Credentials aws.CredentialsProvider

	// HTTPClient sends the requests. nil: a new *http.Client using
	// http.DefaultTransport.
	HTTPClient aws.HTTPClient

	// Retryer decides retries and backoff. nil: retry.NewStandard(). Whatever
	// the retryer says, 4xx errors other than throttling (429,
	// TooManyRequestsException, LambdaThrottledException) are never retried.
	Retryer aws.Retryer

	// Logger receives debug records of attempts and retries. nil: discarded.
	Logger *slog.Logger
}

// Client calls Cognito Sync over HTTP. It implements syncapi.SyncAPI and is
// safe for concurrent use. Every method returns errors wrapped in a
// *smithy.OperationError; an error answered by the service is an *APIError
// (errors.As) that unwraps to the matching syncapi sentinel (errors.Is), and
// exhausted retries wrap it in a *retry.MaxAttemptsError.
type Client struct {
	region   string
	endpoint string // scheme://host[/prefix], no trailing slash
	initErr  error  // configuration error, returned by every call
	creds    aws.CredentialsProvider
	signer   *v4.Signer
	http     aws.HTTPClient
	retryer  aws.Retryer
	log      *slog.Logger
	identity *cognitoidentity.Client
}

// New returns a Client for o. Configuration errors (a malformed BaseEndpoint,
// a missing Region) are reported by every call, as the SDK's clients do.
func New(o Options) *Client {
	c := newClient(o)
	idOpts := cognitoidentity.Options{
		Region:       o.Region,
		BaseEndpoint: o.BaseEndpoint,
		Credentials:  o.Credentials,
		HTTPClient:   c.http,
	}
	if o.Retryer != nil {
		idOpts.Retryer = o.Retryer
	}
	c.identity = cognitoidentity.New(idOpts)
	return c
}

// NewFromConfig returns a Client configured from cfg (Region, BaseEndpoint,
// Credentials, HTTPClient, Retryer, RetryMaxAttempts), then adjusted by
// optFns, like every aws-sdk-go-v2 service client. The Identity client is
// built with cognitoidentity.NewFromConfig(cfg) and the adjusted region,
// endpoint, credentials and HTTP client.
func NewFromConfig(cfg aws.Config, optFns ...func(*Options)) *Client {
	o := Options{
		Region:       cfg.Region,
		BaseEndpoint: cfg.BaseEndpoint,
		Credentials:  cfg.Credentials,
		HTTPClient:   cfg.HTTPClient,
	}
	if cfg.Retryer != nil {
		o.Retryer = cfg.Retryer()
	}
	if cfg.RetryMaxAttempts > 0 {
		base := o.Retryer
		if base == nil {
			base = retry.NewStandard()
		}
		o.Retryer = retry.AddWithMaxAttempts(base, cfg.RetryMaxAttempts)
	}
	for _, fn := range optFns {
		fn(&o)
	}
	c := newClient(o)
	c.identity = cognitoidentity.NewFromConfig(cfg, func(io *cognitoidentity.Options) {
		io.Region = o.Region
		io.BaseEndpoint = o.BaseEndpoint
		io.Credentials = o.Credentials
		if o.HTTPClient != nil {
			io.HTTPClient = o.HTTPClient
		}
	})
	return c
}

// Identity returns the aws-sdk-go-v2 Cognito Identity client for the identity
// subset of spec G (GetId, GetCredentialsForIdentity, CreateIdentityPool, …),
// configured with this client's region, endpoint, credentials and HTTP
// client. syncd serves both APIs on one host (spec A.1). The returned client
// is shared; do not modify it.
func (c *Client) Identity() *cognitoidentity.Client { return c.identity }

func newClient(o Options) *Client {
	c := &Client{
		region:  o.Region,
		http:    o.HTTPClient,
		retryer: o.Retryer,
		log:     o.Logger,
		signer:  v4.NewSigner(),
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.retryer == nil {
		c.retryer = retry.NewStandard()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.Credentials == nil, aws.IsCredentialsProvider(o.Credentials, aws.AnonymousCredentials{}):
		// unsigned
	case aws.IsCredentialsProvider(o.Credentials, (*aws.CredentialsCache)(nil)):
		c.creds = o.Credentials
	default:
		c.creds = aws.NewCredentialsCache(o.Credentials)
	}
	c.endpoint, c.initErr = resolveEndpoint(o)
	return c
}

// resolveEndpoint validates the configuration and returns the endpoint
// without a trailing slash.
func resolveEndpoint(o Options) (string, error) {
	var errs []error
	signed := o.Credentials != nil && !aws.IsCredentialsProvider(o.Credentials, aws.AnonymousCredentials{})
	if o.Region == "" && (signed || o.BaseEndpoint == nil) {
		errs = append(errs, errors.New("client: Region is required"))
	}
	var endpoint string
	if o.BaseEndpoint != nil {
		u, err := url.Parse(*o.BaseEndpoint)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("client: BaseEndpoint: %w", err))
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
			errs = append(errs, fmt.Errorf("client: BaseEndpoint %q: want http(s)://host[:port][/prefix]", *o.BaseEndpoint))
		case u.RawQuery != "" || u.Fragment != "":
			errs = append(errs, fmt.Errorf("client: BaseEndpoint %q: must not carry a query or fragment", *o.BaseEndpoint))
		default:
			endpoint = u.Scheme + "://" + u.Host + strings.TrimSuffix(u.EscapedPath(), "/")
		}
	} else if o.Region != "" {
		endpoint = "https://" + httpapi.SyncSigningName + "." + o.Region + ".amazonaws.com"
	}
	return endpoint, errors.Join(errs...)
}
