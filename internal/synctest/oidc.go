package synctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Issuer is a loopback OpenID Connect issuer for tests: it serves a
// discovery document and a key set, and mints real RS256 and ES256 tokens
// (go-jose) with the keys it publishes, or with keys it does not.
type Issuer struct {
	URL string
	mux *http.ServeMux

	mu        sync.Mutex
	keys      []jose.JSONWebKey // private; the published ones
	fetches   atomic.Int64      // key set requests
	discovery atomic.Int64
}

// StartIssuer serves an issuer on 127.0.0.1 until the test ends, with one
// RS256 and one ES256 key.
func StartIssuer(t testing.TB) *Issuer {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return newIssuer(t, mux, srv.URL, "")
}

// StartIssuerAt adds an issuer at path under host's server (a Cognito user
// pool's issuer is https://cognito-idp.<region>.amazonaws.com/<poolId>).
func StartIssuerAt(t testing.TB, host *Issuer, path string) *Issuer {
	t.Helper()
	return newIssuer(t, host.mux, host.URL+path, path)
}

func newIssuer(t testing.TB, mux *http.ServeMux, url, path string) *Issuer {
	i := &Issuer{URL: url, mux: mux}
	i.AddKey(t, jose.RS256)
	i.AddKey(t, jose.ES256)
	mux.HandleFunc("GET "+path+"/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		i.discovery.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": i.URL, "jwks_uri": i.URL + "/keys", "response_types_supported": []string{"id_token"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("GET "+path+"/keys", func(w http.ResponseWriter, r *http.Request) {
		i.fetches.Add(1)
		i.mu.Lock()
		set := jose.JSONWebKeySet{}
		for _, k := range i.keys {
			set.Keys = append(set.Keys, k.Public())
		}
		i.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	})
	return i
}

// newJWK generates a private key for alg with a random kid.
func newJWK(t testing.TB, alg jose.SignatureAlgorithm) jose.JSONWebKey {
	t.Helper()
	var key crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 6)
	rand.Read(id)
	return jose.JSONWebKey{Key: key, KeyID: hex.EncodeToString(id), Algorithm: string(alg), Use: "sig"}
}

// AddKey publishes a new key for alg and returns its kid; Token signs with
// the newest key of an algorithm.
func (i *Issuer) AddKey(t testing.TB, alg jose.SignatureAlgorithm) string {
	k := newJWK(t, alg)
	i.mu.Lock()
	i.keys = append(i.keys, k)
	i.mu.Unlock()
	return k.KeyID
}

// KeyFetches is how many times the key set was fetched.
func (i *Issuer) KeyFetches() int64 { return i.fetches.Load() }

// LoginKey is the Logins key of the issuer's tokens: its URL without scheme.
func (i *Issuer) LoginKey() string { return strings.TrimPrefix(i.URL, "http://") }

// ARN is an IAM OIDC provider ARN naming the issuer, for a pool's
// OpenIdConnectProviderARNs.
func (i *Issuer) ARN() string { return "arn:aws:iam::123456789012:oidc-provider/" + i.LoginKey() }

// Claims returns valid claims for sub and aud: iss, iat now, exp in an hour.
func (i *Issuer) Claims(sub, aud string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": i.URL, "sub": sub, "aud": aud, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// Token signs claims with the newest published key of alg.
func (i *Issuer) Token(t testing.TB, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	i.mu.Lock()
	var key jose.JSONWebKey
	for _, k := range i.keys {
		if k.Algorithm == string(alg) {
			key = k
		}
	}
	i.mu.Unlock()
	if key.Key == nil {
		t.Fatalf("issuer has no %s key", alg)
	}
	return SignToken(t, key, claims)
}

// UnpublishedToken signs claims with a fresh key the issuer never
// published (an unknown kid).
func (i *Issuer) UnpublishedToken(t testing.TB, claims map[string]any) string {
	t.Helper()
	return SignToken(t, newJWK(t, jose.RS256), claims)
}

// SignToken signs claims as a compact JWS with key (its Algorithm and
// KeyID).
func SignToken(t testing.TB, key jose.JSONWebKey, claims map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.Algorithm), Key: key},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// HMACToken signs claims with HS256 using secret as the key: with an
// issuer's public key as the secret, the "algorithm confusion" forgery.
func HMACToken(t testing.TB, kid string, secret []byte, claims map[string]any) string {
	t.Helper()
	return SignToken(t, jose.JSONWebKey{Key: secret, KeyID: kid, Algorithm: string(jose.HS256)}, claims)
}

// NoneToken is an unsigned token (alg none) with claims.
func NoneToken(t testing.TB, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
}

// PublicKeyBytes returns the issuer's RS256 public key in the bytes an
// attacker would use as an HMAC secret (its JWK JSON) and its kid.
func (i *Issuer) PublicKeyBytes(t testing.TB) (kid string, b []byte) {
	t.Helper()
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, k := range i.keys {
		if k.Algorithm == string(jose.RS256) {
			pub := k.Public()
			b, err := pub.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			return k.KeyID, b
		}
	}
	t.Fatal("issuer has no RS256 key")
	return "", nil
}
