package e2e_test

import (
	"context"
	"testing"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	cognitoidentityv2 "github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity/types"
	"github.com/go-jose/go-jose/v4"

	"github.com/cognitosync/cognitosync/internal/server"
	"github.com/cognitosync/cognitosync/internal/synctest"
)

// TestLogins_CognitoUserPoolGoogleApple: a Cognito user pool
// (CognitoIdentityProviders, ClientId = audience), Google and Apple
// (SupportedLoginProviders, value = client id) verify like any OpenID
// Connect issuer, at the overridden issuer URLs; each login keeps one
// identity, a second provider links to the same identity, and a client id
// the pool does not name is refused.
func TestLogins_CognitoUserPoolGoogleApple(t *testing.T) {
	ctx := context.Background()
	userPools, google, apple := synctest.StartIssuer(t), synctest.StartIssuer(t), synctest.StartIssuer(t)
	const userPool = "us-east-1_AbCdEf123"
	// The user pool issuer is <base>/<userPoolId>: a second issuer at that path.
	up := synctest.StartIssuerAt(t, userPools, "/"+userPool)
	s := synctest.Start(t, synctest.Options{Logins: server.Logins{
		GoogleIssuer: google.URL, AppleIssuer: apple.URL, CognitoIDPURL: userPools.URL,
	}})
	dev := s.IdentityV2()
	providerName := "cognito-idp.us-east-1.amazonaws.com/" + userPool
	created, err := dev.CreateIdentityPool(ctx, &cognitoidentityv2.CreateIdentityPoolInput{
		IdentityPoolName: awsv2.String("social"), AllowUnauthenticatedIdentities: false,
		CognitoIdentityProviders: []types.CognitoIdentityProvider{{ProviderName: &providerName, ClientId: awsv2.String("up-client")}},
		SupportedLoginProviders:  map[string]string{"accounts.google.com": "g-client-1,g-client-2", "appleid.apple.com": "com.example.app"},
	})
	if err != nil {
		t.Fatal(err)
	}
	pool := *created.IdentityPoolId
	anon := synctest.IdentityClient(s.URL, awsv2.AnonymousCredentials{})

	upToken := up.Token(t, jose.RS256, up.Claims("up-user", "up-client"))
	a := synctest.LoginAt(t, s.URL, pool, map[string]string{providerName: upToken})
	if b := synctest.LoginAt(t, s.URL, pool, map[string]string{providerName: up.Token(t, jose.ES256, up.Claims("up-user", "up-client"))}); b.ID != a.ID {
		t.Errorf("the same user pool user got %s and %s", a.ID, b.ID)
	}
	// Linking Google to the same identity: both logins at once.
	both := map[string]string{providerName: upToken, "accounts.google.com": google.Token(t, jose.RS256, google.Claims("g-user", "g-client-2"))}
	if c := synctest.LoginAt(t, s.URL, pool, both); c.ID != a.ID {
		t.Errorf("user pool + Google = %s, want %s", c.ID, a.ID)
	}
	if g := synctest.LoginAt(t, s.URL, pool, map[string]string{"accounts.google.com": google.Token(t, jose.ES256, google.Claims("g-user", "g-client-1"))}); g.ID != a.ID {
		t.Errorf("Google alone after linking = %s, want %s", g.ID, a.ID)
	}
	apl := synctest.LoginAt(t, s.URL, pool, map[string]string{"appleid.apple.com": apple.Token(t, jose.ES256, apple.Claims("a-user", "com.example.app"))})
	if apl.ID == a.ID {
		t.Errorf("another user's Apple login got the user pool user's identity")
	}
	d, err := dev.DescribeIdentity(ctx, &cognitoidentityv2.DescribeIdentityInput{IdentityId: &a.ID})
	if err != nil || len(d.Logins) != 2 {
		t.Errorf("DescribeIdentity = %v, %v; want the user pool and Google", d, err)
	}
	for name, logins := range map[string]map[string]string{
		"user pool token for another client": {providerName: up.Token(t, jose.RS256, up.Claims("up-user", "other-client"))},
		"Google token for another client":    {"accounts.google.com": google.Token(t, jose.RS256, google.Claims("g-user", "other"))},
		"Apple token signed by Google":       {"appleid.apple.com": google.Token(t, jose.RS256, with(google.Claims("a-user", "com.example.app"), "iss", apple.URL))},
		"no logins on a pool without guests": nil,
	} {
		_, err := anon.GetId(ctx, &cognitoidentityv2.GetIdInput{IdentityPoolId: &pool, Logins: logins})
		if code := v2Code(t, err); code != "NotAuthorizedException" {
			t.Errorf("%s: %s", name, code)
		}
	}
}

func with(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}
