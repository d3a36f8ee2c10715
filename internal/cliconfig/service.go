package cliconfig

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/cognitosync/cognitosync/internal/httplimit"
	"github.com/cognitosync/cognitosync/internal/server"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/auth"
	"github.com/cognitosync/cognitosync/syncapi/gc"
	"github.com/cognitosync/cognitosync/syncapi/httpapi"
	"github.com/cognitosync/cognitosync/syncapi/idtoken"
)

// Service holds the flags of the sync service that syncd and the worker's
// embedded mode share. Define declares them for both programs, so they
// accept the same flag names, defaults and help, with each program's
// environment variable prefix; ServerConfig copies them into the one
// server.Config both programs build syncd from.
type Service struct {
	Region             string
	Pools              List
	DeveloperKeys      Keys
	AccountID          string
	SessionTTL         time.Duration
	CredentialTTL      time.Duration
	MaxDatasets        int
	MaxRecords         int64
	MaxDatasetBytes    int64
	LambdaEndpoint     string
	LambdaFunctionName string
	// Clients are the connection, request and guest-call limits.
	Clients server.ClientLimits
	// Storage housekeeping: the garbage collector, the credential cache
	// and the SQLite size cap.
	GCInterval, GuestIdentityTTL time.Duration
	CredentialCacheSize          int
	SQLiteMaxBytes               int64
	// Logged-in users: syncd's public URL (the issuer of its OpenID
	// tokens), trusted OpenID Connect issuers, and replacement issuer URLs
	// of Google, Apple and Cognito user pools (tests).
	PublicURL                                string
	OIDCProviders                            OIDCProviders
	GoogleIssuer, AppleIssuer, CognitoIDPURL string
	// Push is the delivery of push sync notifications.
	Push server.Push
	// LoginFallback is the Cognito Identity this syncd replaces during a
	// move off AWS ("aws" or a URL; "": none).
	LoginFallback string
}

// ServiceNames is what differs between the programs that Define the
// service flags.
type ServiceNames struct {
	// Prefix starts every environment variable, e.g. "SYNCD_".
	Prefix string
	// Scope starts the help of the flags that only the sync service reads,
	// e.g. "embedded mode: " for the worker; "" for syncd.
	Scope string
	// RegionHelp and PoolsHelp explain --region and --pool, whose meaning
	// the worker widens (its remote mode uses them too).
	RegionHelp, PoolsHelp string
	// PoolsEnv is the variable of --pool; "": Prefix+"POOLS".
	PoolsEnv string
	// KeysEnv is the variable of --developer-key; "":
	// Prefix+"DEVELOPER_KEYS".
	KeysEnv string
	// KeysDefault says what happens without --developer-key.
	KeysDefault string
}

// Define declares the service flags on fs with their environment variables
// read through env (a variable's parse error is reported by env.Err). As
// for every list flag of the commands, --pool and --developer-key replace
// the values of their environment variable.
func (s *Service) Define(fs *flag.FlagSet, env *Env, n ServiceNames) {
	p, scope := n.Prefix, n.Scope
	if n.PoolsEnv == "" {
		n.PoolsEnv = p + "POOLS"
	}
	if n.KeysEnv == "" {
		n.KeysEnv = p + "DEVELOPER_KEYS"
	}
	fs.StringVar(&s.Region, "region", env.String(p+"REGION", env.String("AWS_REGION", "us-east-1")),
		fmt.Sprintf("%s [%sREGION, AWS_REGION]", n.RegionHelp, p))
	env.Value(n.PoolsEnv, &s.Pools)
	ReplacingVar(fs, &s.Pools, func() { s.Pools = nil }, "pool", fmt.Sprintf("%s [%s, comma-separated]", n.PoolsHelp, n.PoolsEnv))
	env.Value(n.KeysEnv, &s.DeveloperKeys)
	ReplacingVar(fs, &s.DeveloperKeys, func() { s.DeveloperKeys = nil }, "developer-key", fmt.Sprintf(
		"%sdeveloper credentials ACCESS_KEY_ID:SECRET, repeatable; developer-only operations need them\n(default: %s) [%s, comma-separated]",
		scope, n.KeysDefault, n.KeysEnv))
	fs.StringVar(&s.AccountID, "account-id", env.String(p+"ACCOUNT_ID", "000000000000"),
		fmt.Sprintf("%sAWS account id reported as LastModifiedBy for developer writes [%sACCOUNT_ID]", scope, p))
	fs.DurationVar(&s.SessionTTL, "session-ttl", env.Duration(p+"SESSION_TTL", time.Hour),
		fmt.Sprintf("%slifetime of a SyncSessionToken [%sSESSION_TTL]", scope, p))
	fs.DurationVar(&s.CredentialTTL, "credential-ttl", env.Duration(p+"CREDENTIAL_TTL", time.Hour),
		fmt.Sprintf("%slifetime of credentials from GetCredentialsForIdentity [%sCREDENTIAL_TTL]", scope, p))
	d := syncapi.DefaultLimits
	fs.IntVar(&s.MaxDatasets, "max-datasets", int(env.Int(p+"MAX_DATASETS", int64(d.MaxDatasets))),
		fmt.Sprintf("%sdatasets per identity (AWS: 20) [%sMAX_DATASETS]", scope, p))
	fs.Int64Var(&s.MaxRecords, "max-records", env.Int(p+"MAX_RECORDS", d.MaxRecords),
		fmt.Sprintf("%srecords per dataset (AWS: 1024) [%sMAX_RECORDS]", scope, p))
	fs.Int64Var(&s.MaxDatasetBytes, "max-dataset-bytes", env.Int(p+"MAX_DATASET_BYTES", d.MaxDatasetBytes),
		fmt.Sprintf("%sbytes of keys and values per dataset (AWS: 1 MB) [%sMAX_DATASET_BYTES]", scope, p))
	fs.StringVar(&s.LambdaEndpoint, "lambda-endpoint", env.String(p+"LAMBDA_ENDPOINT", ""), fmt.Sprintf(
		"%sURL of a Lambda-compatible Invoke API for pools' SyncTrigger functions, e.g. a Lambda Runtime Interface Emulator\n(default: AWS Lambda, configured by the standard AWS environment) [%sLAMBDA_ENDPOINT]", scope, p))
	fs.StringVar(&s.LambdaFunctionName, "lambda-function-name", env.String(p+"LAMBDA_FUNCTION_NAME", ""), fmt.Sprintf(
		"%sinvoke this function name instead of the pool's SyncTrigger ARN (the emulator serves only \"function\") [%sLAMBDA_FUNCTION_NAME]", scope, p))
	fs.DurationVar(&s.GCInterval, "gc-interval", env.Duration(p+"GC_INTERVAL", gc.DefaultInterval),
		fmt.Sprintf("%show often to delete identity credentials expired for over an hour, and idle guest identities [%sGC_INTERVAL]", scope, p))
	fs.DurationVar(&s.GuestIdentityTTL, "guest-identity-ttl", env.Duration(p+"GUEST_IDENTITY_TTL", 30*24*time.Hour),
		fmt.Sprintf("%sdelete guest identities that never stored anything (no dataset, no push device, no unexpired credentials)\nthis long after GetId created them; 0 keeps them forever [%sGUEST_IDENTITY_TTL]", scope, p))
	fs.IntVar(&s.CredentialCacheSize, "credential-cache-size", int(env.Int(p+"CREDENTIAL_CACHE_SIZE", auth.DefaultCacheSize)),
		fmt.Sprintf("%sidentity credentials kept in memory (about 600 bytes each, one minute each) to spare a store lookup per request [%sCREDENTIAL_CACHE_SIZE]", scope, p))
	fs.Int64Var(&s.SQLiteMaxBytes, "sqlite-max-bytes", env.Int(p+"SQLITE_MAX_BYTES", 0),
		fmt.Sprintf("%scap the SQLite database file at this many bytes: past it writes answer a retryable 503 and /healthz is unhealthy,\nbefore the disk itself fills up; 0: no cap (ignored with a PostgreSQL store) [%sSQLITE_MAX_BYTES]", scope, p))
	fs.StringVar(&s.PublicURL, "public-url", env.String(p+"PUBLIC_URL", ""), fmt.Sprintf(
		"%sURL clients reach syncd at, e.g. https://sync.example.com: the issuer of the OpenID tokens it signs for\nlogged-in users, with /.well-known/openid-configuration and /.well-known/jwks.json under it\n(default: http://<listen address>) [%sPUBLIC_URL]", scope, p))
	env.Value(p+"OIDC_PROVIDERS", &s.OIDCProviders)
	ReplacingVar(fs, &s.OIDCProviders, func() { s.OIDCProviders = nil }, "oidc-provider", fmt.Sprintf(
		"%strust an OpenID Connect issuer: issuer=URL,audience=CLIENT_ID[,audience=…], repeatable; a pool accepts its tokens\nunder the Logins key <issuer without https://> when its OpenIdConnectProviderARNs lists\narn:aws:iam::<account>:oidc-provider/<issuer without https://>; http:// only on loopback (tests)\n[%sOIDC_PROVIDERS, entries separated by ;]", scope, p))
	fs.StringVar(&s.GoogleIssuer, "google-issuer", env.String(p+"GOOGLE_ISSUER", ""), fmt.Sprintf(
		"%sissuer URL of accounts.google.com logins (default: https://accounts.google.com; set for tests) [%sGOOGLE_ISSUER]", scope, p))
	fs.StringVar(&s.AppleIssuer, "apple-issuer", env.String(p+"APPLE_ISSUER", ""), fmt.Sprintf(
		"%sissuer URL of appleid.apple.com logins (default: https://appleid.apple.com; set for tests) [%sAPPLE_ISSUER]", scope, p))
	fs.StringVar(&s.CognitoIDPURL, "cognito-idp-url", env.String(p+"COGNITO_IDP_URL", ""), fmt.Sprintf(
		"%sbase URL of Cognito user pool issuers, <base>/<userPoolId> (default: https://cognito-idp.<region>.amazonaws.com;\nset for tests) [%sCOGNITO_IDP_URL]", scope, p))
	s.definePush(fs, env, p, scope)
	fs.StringVar(&s.LoginFallback, "login-fallback", env.String(p+"LOGIN_FALLBACK", ""),
		fmt.Sprintf("%sduring a move off AWS: resolve a valid login that no identity holds yet by calling GetId with the same Logins\n"+
			"on the old Cognito Identity (\"aws\" for AWS in --region, or the URL of another syncd), once, and link it to the imported\n"+
			"identity; OpenID Connect subjects are not disclosed by AWS, so `syncd import` cannot link them [%sLOGIN_FALLBACK]", scope, p))
	l := &s.Clients
	fs.IntVar(&l.MaxConnections, "max-connections", int(env.Int(p+"MAX_CONNECTIONS", httplimit.DefaultMaxConns)),
		fmt.Sprintf("%smost open client connections; more wait to be accepted, and idle keep-alive ones are closed to make room\n(keep it below the open-file limit) [%sMAX_CONNECTIONS]", scope, p))
	fs.DurationVar(&l.ReadHeaderTimeout, "read-header-timeout", env.Duration(p+"READ_HEADER_TIMEOUT", httplimit.DefaultReadHeaderTimeout),
		fmt.Sprintf("%stime a client has to send its request headers, and an unsigned GetId or GetCredentialsForIdentity its body\n[%sREAD_HEADER_TIMEOUT]", scope, p))
	fs.DurationVar(&l.ReadTimeout, "read-timeout", env.Duration(p+"READ_TIMEOUT", httplimit.DefaultReadTimeout),
		fmt.Sprintf("%stime a client has to send a whole request, body included; a stalled upload is cut then [%sREAD_TIMEOUT]", scope, p))
	fs.DurationVar(&l.WriteTimeout, "write-timeout", env.Duration(p+"WRITE_TIMEOUT", httplimit.DefaultWriteTimeout),
		fmt.Sprintf("%stime a client has to take a response, from its first byte [%sWRITE_TIMEOUT]", scope, p))
	fs.DurationVar(&l.IdleTimeout, "idle-timeout", env.Duration(p+"IDLE_TIMEOUT", httplimit.DefaultIdleTimeout),
		fmt.Sprintf("%show long an idle keep-alive connection stays open [%sIDLE_TIMEOUT]", scope, p))
	fs.IntVar(&l.MaxHeaderBytes, "max-header-bytes", int(env.Int(p+"MAX_HEADER_BYTES", httplimit.DefaultMaxHeaderBytes)),
		fmt.Sprintf("%slargest request line and headers, in bytes [%sMAX_HEADER_BYTES]", scope, p))
	fs.Int64Var(&l.MaxBodyBytes, "max-body-bytes", env.Int(p+"MAX_BODY_BYTES", httpapi.DefaultMaxBodyBytes),
		fmt.Sprintf("%slargest signed request body, in bytes (a full 1 MB dataset in one UpdateRecords fits) [%sMAX_BODY_BYTES]", scope, p))
	fs.Int64Var(&l.MaxUnsignedBodyBytes, "max-unsigned-body-bytes", env.Int(p+"MAX_UNSIGNED_BODY_BYTES", httpapi.DefaultMaxUnsignedBodyBytes),
		fmt.Sprintf("%slargest body of the unsigned GetId and GetCredentialsForIdentity calls, in bytes; raise it if\nlogin tokens are larger [%sMAX_UNSIGNED_BODY_BYTES]", scope, p))
	fs.Int64Var(&l.MaxInflightBodyBytes, "max-inflight-body-bytes", env.Int(p+"MAX_INFLIGHT_BODY_BYTES", httplimit.DefaultMaxBodyBytesInFlight),
		fmt.Sprintf("%srequest body bytes held in memory across all requests at once; past it, reads wait, then\nTooManyRequestsException [%sMAX_INFLIGHT_BODY_BYTES]", scope, p))
	fs.Float64Var(&l.GetIDRate, "get-id-rate", env.Float(p+"GET_ID_RATE", server.DefaultGetIDRate),
		fmt.Sprintf("%sunsigned GetId calls per second per identity pool (AWS's quota per account: 25), bursts of twice that; 0: unlimited [%sGET_ID_RATE]", scope, p))
	fs.Float64Var(&l.GetIDRatePerAddress, "get-id-rate-per-address", env.Float(p+"GET_ID_RATE_PER_ADDRESS", server.DefaultGetIDRatePerAddress),
		fmt.Sprintf("%sunsigned GetId calls per second per client address (IPv6: per /64), bursts of twice that; 0: unlimited [%sGET_ID_RATE_PER_ADDRESS]", scope, p))
	fs.Float64Var(&l.GetCredentialsRate, "get-credentials-rate", env.Float(p+"GET_CREDENTIALS_RATE", server.DefaultGetCredentialsRate),
		fmt.Sprintf("%sunsigned GetCredentialsForIdentity calls per second per identity pool (AWS's quota per account: 200),\nbursts of twice that; 0: unlimited [%sGET_CREDENTIALS_RATE]", scope, p))
	fs.Float64Var(&l.GetCredentialsRatePerAddress, "get-credentials-rate-per-address", env.Float(p+"GET_CREDENTIALS_RATE_PER_ADDRESS", server.DefaultGetCredentialsRatePerAddress),
		fmt.Sprintf("%sunsigned GetCredentialsForIdentity calls per second per client address, bursts of twice that; 0: unlimited\n[%sGET_CREDENTIALS_RATE_PER_ADDRESS]", scope, p))
	fs.StringVar(&l.ClientAddressHeader, "client-address-header", env.String(p+"CLIENT_ADDRESS_HEADER", ""),
		fmt.Sprintf("%stake the client address of the per-address limits from the last value of this header, e.g. X-Forwarded-For;\nset it only when syncd is reachable solely through a proxy that sets it (default: the peer address)\n[%sCLIENT_ADDRESS_HEADER]", scope, p))
}

// Validate reports every invalid service flag, named as on the command
// line.
func (s Service) Validate() []error {
	var errs []error
	if s.Region == "" {
		errs = append(errs, errors.New("--region is required"))
	}
	if s.MaxDatasets < 1 || s.MaxRecords < 1 || s.MaxDatasetBytes < 1 {
		errs = append(errs, errors.New("--max-datasets, --max-records and --max-dataset-bytes must be positive"))
	}
	if s.SessionTTL <= 0 || s.CredentialTTL <= 0 {
		errs = append(errs, errors.New("--session-ttl and --credential-ttl must be positive"))
	}
	if s.LambdaEndpoint != "" && !strings.HasPrefix(s.LambdaEndpoint, "http://") && !strings.HasPrefix(s.LambdaEndpoint, "https://") {
		errs = append(errs, fmt.Errorf("--lambda-endpoint must be an http:// or https:// URL, got %q", s.LambdaEndpoint))
	}
	if s.GCInterval <= 0 {
		errs = append(errs, errors.New("--gc-interval must be positive"))
	}
	if s.GuestIdentityTTL < 0 {
		errs = append(errs, errors.New("--guest-identity-ttl must not be negative (0 keeps guest identities forever)"))
	}
	if s.CredentialCacheSize < 1 {
		errs = append(errs, errors.New("--credential-cache-size must be positive"))
	}
	if f := s.LoginFallback; f != "" && f != "aws" && !strings.HasPrefix(f, "http://") && !strings.HasPrefix(f, "https://") {
		errs = append(errs, fmt.Errorf("--login-fallback must be \"aws\" or an http:// or https:// URL, got %q", f))
	}
	if s.SQLiteMaxBytes < 0 || (s.SQLiteMaxBytes > 0 && s.SQLiteMaxBytes < 1<<20) {
		errs = append(errs, errors.New("--sqlite-max-bytes must be 0 (no cap) or at least 1048576"))
	}
	if u := s.PublicURL; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		errs = append(errs, fmt.Errorf("--public-url must be an http:// or https:// URL, got %q", u))
	}
	for _, f := range []struct{ flag, v string }{{"--google-issuer", s.GoogleIssuer}, {"--apple-issuer", s.AppleIssuer}, {"--cognito-idp-url", s.CognitoIDPURL}} {
		if f.v != "" {
			if err := (idtoken.Provider{Issuer: f.v, Audiences: []string{"-"}}).Validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.flag, err))
			}
		}
	}
	errs = append(errs, validatePush(s.Push)...)
	return append(errs, validateClientLimits(s.Clients)...)
}

// validateClientLimits checks the connection, request and rate limit
// flags.
func validateClientLimits(c server.ClientLimits) []error {
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

// ServerConfig returns a server.Config with the service flags filled in;
// the program adds listeners, store, stream, logger and registry.
func (s Service) ServerConfig() server.Config {
	return server.Config{
		Region: s.Region, Pools: s.Pools, DeveloperKeys: s.DeveloperKeys, AccountID: s.AccountID,
		Limits:     syncapi.Limits{MaxDatasets: s.MaxDatasets, MaxRecords: s.MaxRecords, MaxDatasetBytes: s.MaxDatasetBytes},
		SessionTTL: s.SessionTTL, CredentialTTL: s.CredentialTTL,
		LambdaEndpoint: s.LambdaEndpoint, LambdaFunctionName: s.LambdaFunctionName,
		Clients:    s.Clients,
		GCInterval: s.GCInterval, GuestIdentityTTL: s.GuestIdentityTTL,
		CredentialCacheSize: s.CredentialCacheSize, SQLiteMaxBytes: s.SQLiteMaxBytes,
		Logins: server.Logins{PublicURL: s.PublicURL, OIDCProviders: s.OIDCProviders,
			GoogleIssuer: s.GoogleIssuer, AppleIssuer: s.AppleIssuer, CognitoIDPURL: s.CognitoIDPURL, FallbackURL: s.LoginFallback},
		Push: s.Push,
	}
}

// OIDCProviders is the repeatable --oidc-provider flag; its environment
// variable separates entries with ';' (an entry holds commas).
type OIDCProviders []idtoken.Provider

func (o *OIDCProviders) String() string { return fmt.Sprintf("%d providers", len(*o)) }

// Set adds the ';'-separated providers of v, each
// issuer=URL,audience=CLIENT_ID[,audience=…].
func (o *OIDCProviders) Set(v string) error {
	for _, e := range strings.Split(v, ";") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		p, err := idtoken.ParseProvider(e)
		if err != nil {
			return err
		}
		*o = append(*o, p)
	}
	return nil
}

// Keys is a repeatable flag of developer credentials ACCESS_KEY_ID:SECRET,
// also comma-separated. A later pair with an id already given replaces its
// secret; the order of first appearance is kept (the first key is the one
// the worker's embedded mode acts and prints with).
type Keys []server.DeveloperKey

func (k *Keys) String() string { return fmt.Sprintf("%d keys", len(*k)) }

// Set adds the comma-separated pairs of v.
func (k *Keys) Set(v string) error {
	for _, kv := range strings.Split(v, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		id, secret, ok := strings.Cut(kv, ":")
		if !ok || id == "" || secret == "" {
			return fmt.Errorf("developer key %q: want ACCESS_KEY_ID:SECRET", kv)
		}
		k.add(server.DeveloperKey{ID: id, Secret: secret})
	}
	return nil
}

func (k *Keys) add(key server.DeveloperKey) {
	for i := range *k {
		if (*k)[i].ID == key.ID {
			(*k)[i].Secret = key.Secret
			return
		}
	}
	*k = append(*k, key)
}
