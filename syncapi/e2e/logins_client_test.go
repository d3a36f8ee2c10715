package e2e_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
)

// TestLogins_ClientCoversEveryOperation: this project's Go client reaches
// every logged-in identity operation through Client.Identity() (the
// aws-sdk-go-v2 Cognito Identity client it configures).
func TestLogins_ClientCoversEveryOperation(t *testing.T) {
	ctx := context.Background()
	srv := synctest.Start(t, synctest.Options{})
	dev := newClient(srv.URL, synctest.StaticV2(srv.DevKeyID, srv.DevSecret, "")).Identity()
	anon := newClient(srv.URL, aws.AnonymousCredentials{}).Identity()
	created, err := dev.CreateIdentityPool(ctx, &cognitoidentity.CreateIdentityPoolInput{
		IdentityPoolName: aws.String("client"), AllowUnauthenticatedIdentities: true, DeveloperProviderName: aws.String("dev"),
	})
	if err != nil {
		t.Fatal(err)
	}
	pool := *created.IdentityPoolId
	step := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	a, err := dev.GetOpenIdTokenForDeveloperIdentity(ctx, &cognitoidentity.GetOpenIdTokenForDeveloperIdentityInput{IdentityPoolId: &pool, Logins: map[string]string{"dev": "a"}})
	step("GetOpenIdTokenForDeveloperIdentity", err)
	b, err := dev.GetOpenIdTokenForDeveloperIdentity(ctx, &cognitoidentity.GetOpenIdTokenForDeveloperIdentityInput{IdentityPoolId: &pool, Logins: map[string]string{"dev": "b"}})
	step("GetOpenIdTokenForDeveloperIdentity", err)
	logins := map[string]string{syncapi.CognitoIdentityProviderName: *a.Token}
	_, err = anon.GetOpenIdToken(ctx, &cognitoidentity.GetOpenIdTokenInput{IdentityId: a.IdentityId, Logins: logins})
	step("GetOpenIdToken", err)
	_, err = dev.LookupDeveloperIdentity(ctx, &cognitoidentity.LookupDeveloperIdentityInput{IdentityPoolId: &pool, DeveloperUserIdentifier: aws.String("a")})
	step("LookupDeveloperIdentity", err)
	_, err = dev.DescribeIdentity(ctx, &cognitoidentity.DescribeIdentityInput{IdentityId: a.IdentityId})
	step("DescribeIdentity", err)
	l, err := dev.ListIdentities(ctx, &cognitoidentity.ListIdentitiesInput{IdentityPoolId: &pool, MaxResults: aws.Int32(60)})
	step("ListIdentities", err)
	if len(l.Identities) != 2 {
		t.Errorf("ListIdentities = %d identities, want 2", len(l.Identities))
	}
	m, err := dev.MergeDeveloperIdentities(ctx, &cognitoidentity.MergeDeveloperIdentitiesInput{IdentityPoolId: &pool, DeveloperProviderName: aws.String("dev"),
		SourceUserIdentifier: aws.String("b"), DestinationUserIdentifier: aws.String("a")})
	step("MergeDeveloperIdentities", err)
	if *m.IdentityId != *a.IdentityId || *b.IdentityId == *a.IdentityId {
		t.Errorf("MergeDeveloperIdentities = %s", *m.IdentityId)
	}
	_, err = dev.UnlinkDeveloperIdentity(ctx, &cognitoidentity.UnlinkDeveloperIdentityInput{IdentityPoolId: &pool, IdentityId: a.IdentityId,
		DeveloperProviderName: aws.String("dev"), DeveloperUserIdentifier: aws.String("b")})
	step("UnlinkDeveloperIdentity", err)
	_, err = anon.UnlinkIdentity(ctx, &cognitoidentity.UnlinkIdentityInput{IdentityId: a.IdentityId, Logins: logins, LoginsToRemove: []string{"dev"}})
	step("UnlinkIdentity", err)
	if d, err := dev.DescribeIdentity(ctx, &cognitoidentity.DescribeIdentityInput{IdentityId: a.IdentityId}); err != nil || len(d.Logins) != 0 {
		t.Errorf("after UnlinkIdentity: %v, %v", d, err)
	}
	_, err = dev.SetIdentityPoolRoles(ctx, &cognitoidentity.SetIdentityPoolRolesInput{IdentityPoolId: &pool, Roles: map[string]string{"unauthenticated": "arn:aws:iam::123456789012:role/guest"}})
	step("SetIdentityPoolRoles", err)
	_, err = dev.GetIdentityPoolRoles(ctx, &cognitoidentity.GetIdentityPoolRolesInput{IdentityPoolId: &pool})
	step("GetIdentityPoolRoles", err)
	_, err = dev.DeleteIdentities(ctx, &cognitoidentity.DeleteIdentitiesInput{IdentityIdsToDelete: []string{*a.IdentityId}})
	step("DeleteIdentities", err)
}
