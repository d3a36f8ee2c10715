package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/go-jose/go-jose/v4"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
)

// TestEmbedded_OIDCProviderFlag: the embedded mode takes --oidc-provider
// and --public-url (defined once with syncd's flags): a loopback issuer's
// token gets an identity and credentials, the same identity every time, and
// syncd's own tokens name the public URL as issuer.
func TestEmbedded_OIDCProviderFlag(t *testing.T) {
	ctx := context.Background()
	iss := synctest.StartIssuer(t)
	w := startEmbeddedWorker(t, "--oidc-provider", "issuer="+iss.URL+",audience=app", "--public-url", "https://sync.example.com")
	dev := synctest.IdentityClient(w.endpoint, aws.NewCredentialsCache(synctest.StaticV2(embeddedKeyID, embeddedSecret, "")))
	pool := synctest.PoolID()
	if _, err := dev.CreateIdentityPool(ctx, &cognitoidentity.CreateIdentityPoolInput{IdentityPoolName: aws.String("oidc"),
		OpenIdConnectProviderARNs: []string{iss.ARN()}, IdentityPoolTags: map[string]string{syncapi.PoolIDTag: pool}}); err != nil {
		t.Fatal(err)
	}
	logins := map[string]string{iss.LoginKey(): iss.Token(t, jose.RS256, iss.Claims("user", "app"))}
	a := synctest.LoginAt(t, w.endpoint, pool, logins)
	b := synctest.LoginAt(t, w.endpoint, pool, map[string]string{iss.LoginKey(): iss.Token(t, jose.ES256, iss.Claims("user", "app"))})
	if a.ID != b.ID {
		t.Errorf("one login, two identities: %s, %s", a.ID, b.ID)
	}
	tok, err := synctest.IdentityClient(w.endpoint, aws.AnonymousCredentials{}).GetOpenIdToken(ctx, &cognitoidentity.GetOpenIdTokenInput{IdentityId: &a.ID, Logins: logins})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(*tok.Token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil || claims.Iss != "https://sync.example.com" {
		t.Errorf("token issuer %q (%v), want --public-url", claims.Iss, err)
	}
}
