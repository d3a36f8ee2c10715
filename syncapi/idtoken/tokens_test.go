package idtoken_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/idtoken"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

const audience = "app-client"

func openStore(t testing.TB) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), sqlstore.Config{URL: filepath.Join(t.TempDir(), "keys.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type fixture struct {
	iss    *synctest.Issuer
	clock  *synctest.Clock
	tokens *idtoken.Tokens
	store  *sqlstore.DB
	pool   syncapi.IdentityPool
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{iss: synctest.StartIssuer(t), clock: synctest.NewClock(time.Now()), store: openStore(t)}
	f.tokens = f.newTokens(t, f.store)
	f.pool = syncapi.IdentityPool{IdentityPoolID: synctest.PoolID(), OpenIDConnectProviderARNs: []string{f.iss.ARN()},
		CognitoIdentityProviders: []syncapi.CognitoIdentityProvider{{ProviderName: "cognito-idp.evil.example.com/us-east-1_x", ClientID: audience}}}
	return f
}

func (f *fixture) newTokens(t testing.TB, store syncapi.LoginStore) *idtoken.Tokens {
	t.Helper()
	tk, err := idtoken.New(t.Context(), idtoken.Config{
		Store: store, PublicURL: "http://syncd.test", Now: f.clock.Now, MinRefetch: time.Hour,
		Providers: []idtoken.Provider{{Issuer: f.iss.URL, Audiences: []string{"other-client", audience}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func (f *fixture) verify(t testing.TB, token string) (string, error) {
	t.Helper()
	return f.tokens.VerifyLogin(t.Context(), f.pool, f.iss.LoginKey(), token)
}

// TestVerifyLogin_Accepts: RS256 and ES256 tokens of a trusted issuer, and
// tokens just within the 5 minute skew.
func TestVerifyLogin_Accepts(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	for name, claims := range map[string]map[string]any{
		"fresh":            f.iss.Claims("user-1", audience),
		"expired 4 min":    with(f.iss.Claims("user-1", audience), "exp", now.Add(-4*time.Minute).Unix()),
		"nbf in 4 min":     with(f.iss.Claims("user-1", audience), "nbf", now.Add(4*time.Minute).Unix()),
		"audience list":    with(f.iss.Claims("user-1", audience), "aud", []string{"x", audience}),
		"iat in 4 minutes": with(f.iss.Claims("user-1", audience), "iat", now.Add(4*time.Minute).Unix()),
	} {
		for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256} {
			sub, err := f.verify(t, f.iss.Token(t, alg, claims))
			if err != nil || sub != "user-1" {
				t.Errorf("%s %s: sub %q, %v", name, alg, sub, err)
			}
		}
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
		} else {
			m[kv[i].(string)] = kv[i+1]
		}
	}
	return m
}

// TestVerifyLogin_RefusalMatrix: every forged, stale or misdirected token
// answers NotAuthorized, with a message that says why.
func TestVerifyLogin_RefusalMatrix(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	claims := func() map[string]any { return f.iss.Claims("user-1", audience) }
	good := f.iss.Token(t, jose.RS256, claims())
	parts := strings.Split(good, ".")
	tamperedPayload := parts[0] + "." + parts[1][:len(parts[1])-2] + flip(parts[1][len(parts[1])-2:]) + "." + parts[2]
	kid, pub := f.iss.PublicKeyBytes(t)
	own, err := f.tokens.IssueToken(t.Context(), syncapi.OpenIDToken{PoolID: synctest.PoolID(), IdentityID: synctest.IdentityID(), TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	other := synctest.StartIssuer(t)

	cases := []struct {
		name, provider, token, why string
	}{
		{"expired", "", f.iss.Token(t, jose.RS256, with(claims(), "exp", now.Add(-6*time.Minute).Unix())), "expired"},
		{"not yet valid", "", f.iss.Token(t, jose.ES256, with(claims(), "nbf", now.Add(6*time.Minute).Unix())), "not valid yet"},
		{"issued in the future", "", f.iss.Token(t, jose.RS256, with(claims(), "iat", now.Add(time.Hour).Unix())), "future"},
		{"no exp", "", f.iss.Token(t, jose.RS256, with(claims(), "exp", nil)), "expiry"},
		{"no sub", "", f.iss.Token(t, jose.RS256, with(claims(), "sub", nil)), "subject"},
		{"wrong audience", "", f.iss.Token(t, jose.RS256, with(claims(), "aud", "someone-else")), "audience"},
		{"wrong issuer", "", f.iss.Token(t, jose.RS256, with(claims(), "iss", other.URL)), "issued by a different provider"},
		{"another issuer's key", "", other.Token(t, jose.RS256, with(claims(), "iss", f.iss.URL)), "key"},
		{"unknown key", "", f.iss.UnpublishedToken(t, with(claims(), "iss", f.iss.URL)), "key"},
		{"tampered payload", "", tamperedPayload, "signature"},
		{"tampered signature", "", parts[0] + "." + parts[1] + "." + flip(parts[2][:4]) + parts[2][4:], "signature"},
		{"alg none", "", synctest.NoneToken(t, claims()), "none"},
		{"HMAC with the public key", "", synctest.HMACToken(t, kid, pub, claims()), "HS256"},
		{"garbage", "", "not.a.token", "malformed"},
		{"another pool's syncd token", syncapi.CognitoIdentityProviderName, own, "audience"},
		{"untrusted provider", "login.example.com", good, "does not accept"},
		{"user pool name naming another host", "cognito-idp.evil.example.com/us-east-1_x", good, "not a Cognito user pool"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			provider := tc.provider
			if provider == "" {
				provider = f.iss.LoginKey()
			}
			sub, err := f.tokens.VerifyLogin(t.Context(), f.pool, provider, tc.token)
			if !errors.Is(err, syncapi.ErrNotAuthorized) {
				t.Fatalf("VerifyLogin = %q, %v; want NotAuthorized", sub, err)
			}
			if msg := err.Error(); !strings.Contains(strings.ToLower(msg), strings.ToLower(tc.why)) || !strings.HasPrefix(msg, "Invalid login token.") {
				t.Errorf("message %q does not say %q", msg, tc.why)
			}
		})
	}
}

func flip(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}

// TestVerifyLogin_UnknownKeyRefetchIsRateLimited: forged kids cost the
// issuer at most one key fetch per MinRefetch; a key the issuer really
// added is found once that interval passed.
func TestVerifyLogin_UnknownKeyRefetchIsRateLimited(t *testing.T) {
	f := newFixture(t)
	if _, err := f.verify(t, f.iss.Token(t, jose.RS256, f.iss.Claims("u", audience))); err != nil {
		t.Fatal(err)
	}
	base := f.iss.KeyFetches()
	for i := 0; i < 20; i++ {
		if _, err := f.verify(t, f.iss.UnpublishedToken(t, f.iss.Claims("u", audience))); !errors.Is(err, syncapi.ErrNotAuthorized) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if n := f.iss.KeyFetches() - base; n > 1 {
		t.Errorf("20 tokens with unknown kids made %d key fetches, want at most 1", n)
	}
	f.iss.AddKey(t, jose.RS256) // the issuer rotates
	rotated := f.iss.Token(t, jose.RS256, f.iss.Claims("u", audience))
	if _, err := f.verify(t, rotated); !errors.Is(err, syncapi.ErrNotAuthorized) {
		t.Fatalf("a new key within MinRefetch of the last fetch: %v, want NotAuthorized", err)
	}
	f.clock.Advance(time.Hour + time.Second)
	if sub, err := f.verify(t, rotated); err != nil || sub != "u" {
		t.Fatalf("the issuer's new key after MinRefetch: %q, %v", sub, err)
	}
}

// TestVerifyLogin_UnreachableIssuer answers ExternalService, not
// NotAuthorized: the token may be fine.
func TestVerifyLogin_UnreachableIssuer(t *testing.T) {
	f := newFixture(t)
	tk, err := idtoken.New(t.Context(), idtoken.Config{Store: f.store, PublicURL: "http://syncd.test",
		Providers: []idtoken.Provider{{Issuer: "http://127.0.0.1:1", Audiences: []string{audience}}}})
	if err != nil {
		t.Fatal(err)
	}
	p := syncapi.IdentityPool{IdentityPoolID: f.pool.IdentityPoolID, OpenIDConnectProviderARNs: []string{"arn:aws:iam::1:oidc-provider/127.0.0.1:1"}}
	_, err = tk.VerifyLogin(t.Context(), p, "127.0.0.1:1", f.iss.Token(t, jose.RS256, f.iss.Claims("u", audience)))
	if !errors.Is(err, syncapi.ErrExternalService) {
		t.Errorf("unreachable issuer: %v, want ExternalService", err)
	}
}

// TestOwnTokens_ReplicasAndRotation: a second replica on the same store
// verifies the first one's tokens, before and after a rotation; the
// previous key keeps verifying.
func TestOwnTokens_ReplicasAndRotation(t *testing.T) {
	f := newFixture(t)
	replica := f.newTokens(t, f.store)
	pool, id := synctest.PoolID(), synctest.IdentityID()
	p := syncapi.IdentityPool{IdentityPoolID: pool}
	issue := func(tk *idtoken.Tokens) string {
		tok, err := tk.IssueToken(t.Context(), syncapi.OpenIDToken{PoolID: pool, IdentityID: id, AMR: []string{"authenticated"}, TTL: 15 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	check := func(tk *idtoken.Tokens, tok, what string) {
		t.Helper()
		sub, err := tk.VerifyLogin(t.Context(), p, syncapi.CognitoIdentityProviderName, tok)
		if err != nil || sub != id {
			t.Errorf("%s: sub %q, %v", what, sub, err)
		}
	}
	before := issue(f.tokens)
	check(replica, before, "replica verifies")
	kid, err := idtoken.RotateKey(t.Context(), f.store, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Minute) // past KeyRefresh: both read the new key
	after := issue(f.tokens)
	if h := header(t, after); h != kid {
		t.Errorf("token after rotation has kid %q, want %q", h, kid)
	}
	check(replica, after, "replica verifies the rotated key")
	check(f.tokens, before, "previous key still verifies")
	// A token outlives its TTL plus skew.
	f.clock.Advance(21 * time.Minute)
	if _, err := replica.VerifyLogin(t.Context(), p, syncapi.CognitoIdentityProviderName, after); !errors.Is(err, syncapi.ErrNotAuthorized) {
		t.Errorf("expired syncd token: %v", err)
	}
}

func header(t testing.TB, tok string) string {
	t.Helper()
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID
}

// FuzzVerifyLogin: any input is refused or accepted without panicking, and
// only ever with NotAuthorized (never an internal error).
func FuzzVerifyLogin(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.iss.Token(f, jose.RS256, fx.iss.Claims("u", audience)))
	f.Add(fx.iss.Token(f, jose.ES256, fx.iss.Claims("u", audience)))
	f.Add(synctest.NoneToken(f, fx.iss.Claims("u", audience)))
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.")
	f.Add("a.b.c.d.e")
	f.Add(`{"payload":"e30","signatures":[]}`)
	f.Fuzz(func(t *testing.T, token string) {
		sub, err := fx.tokens.VerifyLogin(context.Background(), fx.pool, fx.iss.LoginKey(), token)
		if err == nil {
			if sub != "u" {
				t.Fatalf("accepted %q with sub %q", token, sub)
			}
			return
		}
		if !errors.Is(err, syncapi.ErrNotAuthorized) {
			t.Fatalf("VerifyLogin(%q) = %v, want NotAuthorized", token, err)
		}
	})
}
