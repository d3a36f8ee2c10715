// Package auth authenticates syncd's callers: it joins the SigV4 verifier
// (which knows nothing about Cognito) with the two credential classes of
// spec A.6, developer keys from configuration and identity credentials
// issued by GetCredentialsForIdentity and kept in the store.
package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cognitosync/cognitosync/internal/ttlcache"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/httpapi"
	"github.com/cognitosync/cognitosync/syncapi/sigv4"
)

// Config configures an Authenticator.
type Config struct {
	Developers map[string]string        // access key id -> secret; developer credentials
	AccountID  string                   // LastModifiedBy of developer writes; "": 000000000000
	Issued     syncapi.CredentialLookup // identity credentials; required
	Regions    []string                 // accepted signing regions; required
	MaxSkew    time.Duration            // 0: the verifier's default (15 min)
	CacheTTL   time.Duration            // how long an issued credential is cached; 0: 1 min
	// CacheSize bounds the cached identity credentials (about 600 bytes
	// each); 0: DefaultCacheSize. A credential revoked by
	// DeleteIdentityPool stops working at once even while cached: the
	// Service checks its pool generation (syncapi.Caller.PoolGeneration).
	CacheSize int
	Now       func() time.Time
}

// DefaultCacheSize is Config.CacheSize when 0: the identities active within
// CacheTTL that one process serves without a store lookup per request.
const DefaultCacheSize = 10_000

// Authenticator implements httpapi.Authenticator.
type Authenticator struct {
	c     Config
	v     *sigv4.Verifier
	cache *ttlcache.Cache[string, sigv4.Key]
}

var _ httpapi.Authenticator = (*Authenticator)(nil)

// New returns an Authenticator.
func New(c Config) (*Authenticator, error) {
	if c.Issued == nil {
		return nil, errors.New("auth: Issued is required")
	}
	if c.AccountID == "" {
		c.AccountID = "000000000000"
	}
	if c.CacheTTL <= 0 {
		c.CacheTTL = time.Minute
	}
	if c.CacheSize <= 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	a := &Authenticator{c: c, cache: ttlcache.New[string, sigv4.Key](ttlcache.Config{Size: c.CacheSize, TTL: c.CacheTTL, Now: c.Now})}
	v, err := sigv4.NewVerifier(sigv4.Config{Credentials: a, Regions: c.Regions, MaxSkew: c.MaxSkew, Now: c.Now})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	a.v = v
	return a, nil
}

// Lookup resolves developer keys first, then issued identity credentials
// (cached for CacheTTL: they never change once issued).
func (a *Authenticator) Lookup(ctx context.Context, id string) (sigv4.Key, error) {
	if secret, ok := a.c.Developers[id]; ok {
		return sigv4.Key{Secret: secret, Principal: syncapi.Caller{AccessKeyID: id, Developer: true, AccountID: a.c.AccountID}}, nil
	}
	if k, ok := a.cache.Get(id); ok {
		return k, nil
	}
	cred, err := a.c.Issued.LookupCredential(ctx, id)
	if errors.Is(err, syncapi.ErrNotFound) {
		return sigv4.Key{}, sigv4.ErrUnknownKey
	}
	if err != nil {
		return sigv4.Key{}, fmt.Errorf("look up credential: %w", err)
	}
	k := sigv4.Key{Secret: cred.Secret, SessionToken: cred.SessionToken, Expires: cred.Expires, Principal: cred.Caller}
	a.cache.Add(id, k)
	return k, nil
}

// Authenticate checks r's signature headers for service (sigv4's
// VerifyHeaders) and returns the function that finishes with the body's
// hash. Authentication failures are *syncapi.AuthError with the AWS common
// code.
func (a *Authenticator) Authenticate(r *http.Request, service string, mustSign ...string) (httpapi.VerifyPayload, error) {
	p, err := a.v.VerifyHeaders(r, service, mustSign...)
	if err != nil {
		return nil, authError(err)
	}
	return func(sum [sha256.Size]byte) (syncapi.Caller, error) {
		pr, err := p.VerifyPayload(sum)
		if err != nil {
			return syncapi.Caller{}, authError(err)
		}
		c, ok := pr.(syncapi.Caller)
		if !ok {
			return syncapi.Caller{}, fmt.Errorf("auth: unexpected principal %T", pr)
		}
		return c, nil
	}, nil
}

// authError turns a sigv4 failure into the domain's; other errors (a store
// failure looking the key up) stay internal.
func authError(err error) error {
	var ve *sigv4.Error
	if errors.As(err, &ve) {
		return &syncapi.AuthError{Code: ve.Code, Message: ve.Message}
	}
	return err
}
