package idtoken

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/cognitosync/cognitosync/syncapi"
)

// Well-known issuers of SupportedLoginProviders keys (spec G.6).
const (
	GoogleLoginKey = "accounts.google.com"
	AppleLoginKey  = "appleid.apple.com"
	DefaultGoogle  = "https://accounts.google.com"
	DefaultApple   = "https://appleid.apple.com"
	// DefaultSkew is the clock skew allowed on exp, nbf and iat.
	DefaultSkew = 5 * time.Minute
	// DefaultMinRefetch is how often, at most, an issuer's keys are
	// fetched again for a token that names an unknown key.
	DefaultMinRefetch = 30 * time.Second
)

// Config configures New.
type Config struct {
	// Store keeps the signing keys; required.
	Store syncapi.LoginStore
	// PublicURL is syncd's URL as clients reach it: the issuer (iss) of
	// its tokens and the base of its discovery document; required.
	PublicURL string
	// Providers are the OpenID Connect issuers the operator trusts.
	Providers []Provider
	// GoogleIssuer, AppleIssuer replace Google's and Apple's issuer URLs
	// (tests); "": the real ones.
	GoogleIssuer, AppleIssuer string
	// CognitoIDPURL replaces https://cognito-idp.<region>.amazonaws.com
	// as the base of Cognito user pool issuers (<base>/<userPoolId>);
	// "": the real one.
	CognitoIDPURL string
	// HTTPClient fetches discovery documents and keys; nil: a client
	// with a 10 s timeout.
	HTTPClient *http.Client
	Now        func() time.Time // nil: time.Now
	Skew       time.Duration    // 0: DefaultSkew
	MinRefetch time.Duration    // 0: DefaultMinRefetch
	// KeyRefresh is how often signing keys are read again from the store
	// (another replica may have rotated them); 0: 1 min.
	KeyRefresh time.Duration
	Log        *slog.Logger // nil: discard
}

func (c *Config) setDefaults() {
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Skew == 0 {
		c.Skew = DefaultSkew
	}
	if c.MinRefetch == 0 {
		c.MinRefetch = DefaultMinRefetch
	}
	if c.KeyRefresh == 0 {
		c.KeyRefresh = time.Minute
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.GoogleIssuer == "" {
		c.GoogleIssuer = DefaultGoogle
	}
	if c.AppleIssuer == "" {
		c.AppleIssuer = DefaultApple
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
}

// Validate reports every missing or invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("idtoken: Store is required"))
	}
	if c.PublicURL == "" {
		errs = append(errs, errors.New("idtoken: PublicURL is required"))
	}
	seen := map[string]bool{}
	for _, p := range c.Providers {
		if err := p.Validate(); err != nil {
			errs = append(errs, err)
		}
		if k := LoginKey(p.Issuer); seen[k] {
			errs = append(errs, fmt.Errorf("oidc provider %s is configured twice", p.Issuer))
		} else {
			seen[k] = true
		}
	}
	for _, u := range []string{c.GoogleIssuer, c.AppleIssuer, c.CognitoIDPURL} {
		if u != "" {
			if err := checkIssuer(u); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// The shape of a Cognito user pool provider name.
var (
	reUserPoolHost = regexp.MustCompile(`^cognito-idp\.[a-z0-9-]+\.amazonaws\.com$`)
	reUserPoolID   = regexp.MustCompile(`^[\w-]+_[0-9a-zA-Z]+$`)
)

// maxRemotes bounds the issuers whose keys are cached: configured
// providers, Google, Apple and the Cognito user pools pools name.
const maxRemotes = 1000

// Tokens implements syncapi.LoginTokens. Safe for concurrent use.
type Tokens struct {
	c       Config
	signer  *signer
	own     *keySet
	mu      sync.Mutex
	remotes map[string]*remote
}

var _ syncapi.LoginTokens = (*Tokens)(nil)

// New returns Tokens. It reads the signing keys, creating the first one
// when the store holds none, so that a store problem shows at start-up.
func New(ctx context.Context, c Config) (*Tokens, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	t := &Tokens{c: c, remotes: map[string]*remote{}}
	t.signer = &signer{store: c.Store, now: c.Now, refresh: c.KeyRefresh}
	t.own = &keySet{algs: []jose.SignatureAlgorithm{jose.RS256}, now: c.Now, minRefetch: time.Second,
		fetch: func(ctx context.Context) ([]jose.JSONWebKey, error) {
			keys, err := t.signer.current(ctx, true)
			if err != nil {
				return nil, err
			}
			return publicKeys(keys).Keys, nil
		}}
	if _, err := t.signer.load(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// Rotate adds a new signing key, which signs from now on (on other replicas
// within Config.KeyRefresh); the previous key keeps verifying. It returns
// the new key id.
func (t *Tokens) Rotate(ctx context.Context) (string, error) { return t.signer.rotate(ctx) }

// Issuer is the iss of syncd's tokens.
func (t *Tokens) Issuer() string { return t.c.PublicURL }

// ownClaims are the claims of syncd's tokens.
type ownClaims struct {
	jwt.Claims
	AMR  []string          `json:"amr,omitempty"`
	Tags map[string]string `json:"https://aws.amazon.com/tags,omitempty"`
}

// IssueToken signs an RS256 JWT with iss = PublicURL, aud = pool id, sub =
// identity id, amr, iat, nbf and exp.
func (t *Tokens) IssueToken(ctx context.Context, tok syncapi.OpenIDToken) (string, error) {
	keys, err := t.signer.current(ctx, false)
	if err != nil {
		return "", err
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: keys[0]}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	now := t.c.Now()
	claims := ownClaims{
		Claims: jwt.Claims{
			Issuer: t.c.PublicURL, Subject: tok.IdentityID, Audience: jwt.Audience{tok.PoolID},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(tok.TTL)),
		},
		AMR: tok.AMR,
	}
	if len(tok.PrincipalTags) > 0 {
		claims.Tags = tok.PrincipalTags
	}
	return jwt.Signed(sig).Claims(claims).Serialize()
}

// notAuthorized is a refused token: AWS's "Invalid login token." and why.
func notAuthorized(format string, args ...any) error {
	return syncapi.Errorf(syncapi.ErrNotAuthorized, "Invalid login token. "+format, args...)
}

// VerifyLogin implements syncapi.LoginTokens.
func (t *Tokens) VerifyLogin(ctx context.Context, p syncapi.IdentityPool, provider, token string) (string, error) {
	if provider == syncapi.CognitoIdentityProviderName {
		return t.verify(ctx, t.c.PublicURL, t.own, []jose.SignatureAlgorithm{jose.RS256}, []string{p.IdentityPoolID}, token)
	}
	issuer, audiences, err := t.trust(p, provider)
	if err != nil {
		return "", err
	}
	r := t.remote(issuer)
	return t.verify(ctx, issuer, r.keys, signingAlgs, audiences, token)
}

// trust finds the issuer and audiences pool p accepts under a Logins key.
func (t *Tokens) trust(p syncapi.IdentityPool, provider string) (issuer string, audiences []string, err error) {
	switch provider {
	case GoogleLoginKey, AppleLoginKey:
		v, ok := p.SupportedLoginProviders[provider]
		if !ok {
			break
		}
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				audiences = append(audiences, a)
			}
		}
		if provider == GoogleLoginKey {
			return t.c.GoogleIssuer, audiences, nil
		}
		return t.c.AppleIssuer, audiences, nil
	}
	if strings.HasPrefix(provider, "cognito-idp.") {
		for _, cp := range p.CognitoIdentityProviders {
			if cp.ProviderName == provider && cp.ClientID != "" {
				audiences = append(audiences, cp.ClientID)
			}
		}
		if len(audiences) > 0 {
			host, userPool, ok := strings.Cut(provider, "/")
			if !ok || !reUserPoolHost.MatchString(host) || !reUserPoolID.MatchString(userPool) {
				// The name becomes a URL syncd fetches: only AWS's shape.
				return "", nil, notAuthorized("%q is not a Cognito user pool provider name (cognito-idp.<region>.amazonaws.com/<userPoolId>).", provider)
			}
			if t.c.CognitoIDPURL != "" {
				return strings.TrimSuffix(t.c.CognitoIDPURL, "/") + "/" + userPool, audiences, nil
			}
			return "https://" + host + "/" + userPool, audiences, nil
		}
	}
	for _, arn := range p.OpenIDConnectProviderARNs {
		_, key, ok := strings.Cut(arn, ":oidc-provider/")
		if !ok || strings.TrimSuffix(key, "/") != provider {
			continue
		}
		for _, c := range t.c.Providers {
			if LoginKey(c.Issuer) == provider {
				return strings.TrimSuffix(c.Issuer, "/"), c.Audiences, nil
			}
		}
		return "", nil, notAuthorized("This syncd does not trust the OpenID Connect provider %s: start it with --oidc-provider issuer=https://%s,audience=CLIENT_ID.", provider, provider)
	}
	return "", nil, notAuthorized("The identity pool %s does not accept logins from %s.", p.IdentityPoolID, provider)
}

func (t *Tokens) remote(issuer string) *remote {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.remotes[issuer]
	if !ok {
		if len(t.remotes) >= maxRemotes {
			clear(t.remotes)
		}
		r = newRemote(issuer, t.c.HTTPClient, t.c.Now, t.c.MinRefetch)
		t.remotes[issuer] = r
	}
	return r
}

// claims are the time claims syncd checks itself, with skew.
type timeClaims struct {
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
}

// verify checks a token's signature (keys, algs), iss, aud (one of
// audiences), exp, nbf and iat (with Config.Skew) and returns its sub.
func (t *Tokens) verify(ctx context.Context, issuer string, keys oidc.KeySet, algs []jose.SignatureAlgorithm, audiences []string, token string) (string, error) {
	if len(audiences) == 0 {
		return "", notAuthorized("No audience (client id) is configured for %s.", trimScheme(issuer))
	}
	v := oidc.NewVerifier(issuer, keys, &oidc.Config{
		SkipClientIDCheck: true, SkipExpiryCheck: true, SupportedSigningAlgs: algNames(algs), Now: t.c.Now,
	})
	var ff fetchFailure
	idt, err := v.Verify(context.WithValue(ctx, fetchFailureKey{}, &ff), token)
	if err != nil {
		if ff.err != nil {
			err = ff.err
			t.c.Log.Warn("login token issuer unreachable", "issuer", issuer, "err", err)
			return "", syncapi.Errorf(syncapi.ErrExternalService, "The login provider %s could not be reached to verify the token.", trimScheme(issuer))
		}
		return "", notAuthorized("%v", err)
	}
	if !slices.ContainsFunc(idt.Audience, func(a string) bool { return slices.Contains(audiences, a) }) {
		return "", notAuthorized("Incorrect token audience.")
	}
	var tc timeClaims
	if err := idt.Claims(&tc); err != nil {
		return "", notAuthorized("Malformed claims: %v", err)
	}
	now := t.c.Now()
	switch {
	case tc.Expiry == nil:
		return "", notAuthorized("The token has no expiry (exp).")
	case now.After(tc.Expiry.Time().Add(t.c.Skew)):
		return "", notAuthorized("Token expired: %s", tc.Expiry.Time().UTC().Format(time.RFC3339))
	case tc.NotBefore != nil && now.Add(t.c.Skew).Before(tc.NotBefore.Time()):
		return "", notAuthorized("The token is not valid yet (nbf %s).", tc.NotBefore.Time().UTC().Format(time.RFC3339))
	case tc.IssuedAt != nil && now.Add(t.c.Skew).Before(tc.IssuedAt.Time()):
		return "", notAuthorized("The token was issued in the future (iat %s).", tc.IssuedAt.Time().UTC().Format(time.RFC3339))
	}
	if idt.Subject == "" {
		return "", notAuthorized("The token has no subject (sub).")
	}
	return idt.Subject, nil
}
