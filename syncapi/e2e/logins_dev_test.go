package e2e_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	cognitoidentityv2 "github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity/types"
	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/cognitoidentity"
	"github.com/aws/aws-sdk-go/service/cognitosync"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
)

const devProvider = "login.example"

// devToken is GetOpenIdTokenForDeveloperIdentity through aws-sdk-go v1.
func devToken(t testing.TB, dev *cognitoidentity.CognitoIdentity, pool, identity, user string) (id, token string) {
	t.Helper()
	in := &cognitoidentity.GetOpenIdTokenForDeveloperIdentityInput{IdentityPoolId: aws.String(pool),
		Logins: map[string]*string{devProvider: aws.String(user)}}
	if identity != "" {
		in.IdentityId = aws.String(identity)
	}
	out, err := dev.GetOpenIdTokenForDeveloperIdentity(in)
	if err != nil {
		t.Fatalf("GetOpenIdTokenForDeveloperIdentity %s: %v", user, err)
	}
	return aws.StringValue(out.IdentityId), aws.StringValue(out.Token)
}

func cognitoLogin(token string) map[string]string {
	return map[string]string{syncapi.CognitoIdentityProviderName: token}
}

// write stores key=value in the dataset with identity credentials.
func write(t testing.TB, sync *cognitosync.CognitoSync, pool, id, ds, key, value string) {
	t.Helper()
	tok := *listAll(t, sync, pool, id, ds, 0).SyncSessionToken
	if _, err := update(sync, pool, id, ds, tok, replace(key, value, 0)); err != nil {
		t.Fatalf("UpdateRecords %s/%s: %v", id, ds, err)
	}
}

func v2Code(t testing.TB, err error) string {
	t.Helper()
	var api interface{ ErrorCode() string }
	if !errors.As(err, &api) {
		t.Fatalf("want an AWS error, got %v", err)
	}
	return api.ErrorCode()
}

// TestLogins_DeveloperProvider: the developer-authenticated flow with the
// official clients: the backend gets a token with aws-sdk-go v1, the device
// presents it under cognito-identity.amazonaws.com with aws-sdk-go-v2 (as
// the SDK credential providers do) and syncs with the credentials; the
// token verifies against syncd's discovery document; developer users link,
// refuse a second owner, merge (MergedDatasetNames, the loser refused, no
// dataset limit on the copy) and unlink.
func TestLogins_DeveloperProvider(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(testing.TB) storeT) {
		ctx := context.Background()
		s := synctest.Start(t, synctest.Options{Store: newStore(t), Limits: syncapi.Limits{MaxDatasets: 2}})
		dev, anon := v1Identity(s)
		anon2 := synctest.IdentityClient(s.URL, awsv2.AnonymousCredentials{})
		pool := createDevPool(t, dev, false, devProvider)

		_, err := anon.GetId(&cognitoidentity.GetIdInput{IdentityPoolId: aws.String(pool)})
		wantAWSError(t, err, "NotAuthorizedException", 403)

		alice, token := devToken(t, dev, pool, "", "alice")
		if again, _ := devToken(t, dev, pool, "", "alice"); again != alice {
			t.Fatalf("the same developer user got %s, then %s", alice, again)
		}
		// The device: GetId + GetCredentialsForIdentity with the token (JS v3
		// fromCognitoIdentityPool), and the credentials sync.
		ident := synctest.LoginAt(t, s.URL, pool, cognitoLogin(token))
		if ident.ID != alice {
			t.Fatalf("GetId with the token = %s, want %s", ident.ID, alice)
		}
		aliceSync := synctest.SyncV1(t, s.URL, ident.V1())
		write(t, aliceSync, pool, alice, "game", "level", "7")

		// An authenticated identity gets nothing without its login.
		_, err = anon2.GetCredentialsForIdentity(ctx, &cognitoidentityv2.GetCredentialsForIdentityInput{IdentityId: &alice})
		if code := v2Code(t, err); code != "NotAuthorizedException" {
			t.Errorf("GetCredentialsForIdentity without Logins: %s", code)
		}

		// The token is a JWT a relying party verifies through discovery.
		oid, err := anon2.GetOpenIdToken(ctx, &cognitoidentityv2.GetOpenIdTokenInput{IdentityId: &alice, Logins: cognitoLogin(token)})
		if err != nil {
			t.Fatalf("GetOpenIdToken: %v", err)
		}
		rp, err := oidc.NewProvider(ctx, s.URL)
		if err != nil {
			t.Fatalf("discovery at %s: %v", s.URL, err)
		}
		idt, err := rp.Verifier(&oidc.Config{ClientID: pool}).Verify(ctx, *oid.Token)
		if err != nil {
			t.Fatalf("verify syncd's token with its JWKS: %v", err)
		}
		var claims struct {
			AMR []string `json:"amr"`
		}
		if err := idt.Claims(&claims); err != nil || idt.Subject != alice || !slices.Contains(claims.AMR, "authenticated") || !slices.Contains(claims.AMR, devProvider) {
			t.Errorf("token claims: sub %s amr %v (%v)", idt.Subject, claims.AMR, err)
		}

		// TokenDuration bounds, and logins without the developer provider.
		for _, d := range []int64{0, 86401} {
			_, err := dev.GetOpenIdTokenForDeveloperIdentity(&cognitoidentity.GetOpenIdTokenForDeveloperIdentityInput{
				IdentityPoolId: aws.String(pool), Logins: map[string]*string{devProvider: aws.String("alice")}, TokenDuration: aws.Int64(d)})
			if d == 0 && err == nil {
				t.Errorf("TokenDuration 0 accepted")
			} else if d != 0 {
				wantAWSError(t, err, "InvalidParameterException", 400)
			}
		}
		if out, err := dev.GetOpenIdTokenForDeveloperIdentity(&cognitoidentity.GetOpenIdTokenForDeveloperIdentityInput{
			IdentityPoolId: aws.String(pool), Logins: map[string]*string{devProvider: aws.String("alice")}, TokenDuration: aws.Int64(86400)}); err != nil || aws.StringValue(out.IdentityId) != alice {
			t.Errorf("TokenDuration 86400: %v %v", out, err)
		}

		// bob, and alice's token presented for bob's identity.
		bob, bobToken := devToken(t, dev, pool, "", "bob")
		_, err = anon2.GetCredentialsForIdentity(ctx, &cognitoidentityv2.GetCredentialsForIdentityInput{IdentityId: &bob, Logins: cognitoLogin(token)})
		if code := v2Code(t, err); code != "NotAuthorizedException" {
			t.Errorf("another identity's token: %s", code)
		}
		// A developer user already registered to another identity.
		_, err = dev.GetOpenIdTokenForDeveloperIdentity(&cognitoidentity.GetOpenIdTokenForDeveloperIdentityInput{
			IdentityPoolId: aws.String(pool), IdentityId: aws.String(bob), Logins: map[string]*string{devProvider: aws.String("alice")}})
		wantAWSError(t, err, "DeveloperUserAlreadyRegisteredException", 400)

		bobIdent := synctest.LoginAt(t, s.URL, pool, cognitoLogin(bobToken))
		bobSync := synctest.SyncV1(t, s.URL, bobIdent.V1())
		write(t, bobSync, pool, bob, "game", "level", "3")
		write(t, aliceSync, pool, alice, "profile", "name", "Alice")

		// Merge bob into alice: alice already has MaxDatasets (2) datasets.
		m, err := dev.MergeDeveloperIdentities(&cognitoidentity.MergeDeveloperIdentitiesInput{IdentityPoolId: aws.String(pool),
			DeveloperProviderName: aws.String(devProvider), SourceUserIdentifier: aws.String("bob"), DestinationUserIdentifier: aws.String("alice")})
		if err != nil || aws.StringValue(m.IdentityId) != alice {
			t.Fatalf("MergeDeveloperIdentities = %v, %v", m, err)
		}
		_, err = bobSync.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(bob), DatasetName: aws.String("game")})
		wantAWSError(t, err, "NotAuthorizedException", 403)
		_, err = anon2.GetCredentialsForIdentity(ctx, &cognitoidentityv2.GetCredentialsForIdentityInput{IdentityId: &bob, Logins: cognitoLogin(bobToken)})
		if code := v2Code(t, err); code != "NotAuthorizedException" {
			t.Errorf("GetCredentialsForIdentity of the merged identity: %s", code)
		}
		merged := syncapi.MergedDatasetName("game", bob)
		root := listAll(t, aliceSync, pool, alice, "game", 0)
		if !reflect.DeepEqual(aws.StringValueSlice(root.MergedDatasetNames), []string{merged}) {
			t.Fatalf("MergedDatasetNames = %v, want [%s]", aws.StringValueSlice(root.MergedDatasetNames), merged)
		}
		copyRecs := listAll(t, aliceSync, pool, alice, merged, 0)
		if got := recordMap(copyRecs.Records); aws.StringValue(got["level"]) != "3" || aws.Int64Value(copyRecs.DatasetSyncCount) != 1 {
			t.Errorf("merged copy: %v at SyncCount %d", got, aws.Int64Value(copyRecs.DatasetSyncCount))
		}
		// bob's developer user now finds alice; the copy is deletable and
		// then no longer reported.
		if l, err := dev.LookupDeveloperIdentity(&cognitoidentity.LookupDeveloperIdentityInput{IdentityPoolId: aws.String(pool), DeveloperUserIdentifier: aws.String("bob")}); err != nil || aws.StringValue(l.IdentityId) != alice {
			t.Errorf("LookupDeveloperIdentity bob after merge = %v, %v", l, err)
		}
		if _, err := aliceSync.DeleteDataset(&cognitosync.DeleteDatasetInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(alice), DatasetName: aws.String(merged)}); err != nil {
			t.Fatalf("DeleteDataset %s: %v", merged, err)
		}
		if root := listAll(t, aliceSync, pool, alice, "game", 0); len(root.MergedDatasetNames) != 0 {
			t.Errorf("MergedDatasetNames after deleting the copy = %v", aws.StringValueSlice(root.MergedDatasetNames))
		}

		// Unlink bob; he is then unknown.
		if _, err := dev.UnlinkDeveloperIdentity(&cognitoidentity.UnlinkDeveloperIdentityInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(alice),
			DeveloperProviderName: aws.String(devProvider), DeveloperUserIdentifier: aws.String("bob")}); err != nil {
			t.Fatalf("UnlinkDeveloperIdentity: %v", err)
		}
		_, err = dev.LookupDeveloperIdentity(&cognitoidentity.LookupDeveloperIdentityInput{IdentityPoolId: aws.String(pool), DeveloperUserIdentifier: aws.String("bob")})
		wantAWSError(t, err, "ResourceNotFoundException", 404)

		// Roles are stored and returned (aws-sdk-go-v2).
		dev2 := s.IdentityV2()
		roles := map[string]string{"authenticated": "arn:aws:iam::123456789012:role/auth"}
		if _, err := dev2.SetIdentityPoolRoles(ctx, &cognitoidentityv2.SetIdentityPoolRolesInput{IdentityPoolId: &pool, Roles: roles,
			RoleMappings: map[string]types.RoleMapping{devProvider: {Type: types.RoleMappingTypeToken, AmbiguousRoleResolution: types.AmbiguousRoleResolutionTypeDeny}}}); err != nil {
			t.Fatalf("SetIdentityPoolRoles: %v", err)
		}
		r, err := dev2.GetIdentityPoolRoles(ctx, &cognitoidentityv2.GetIdentityPoolRolesInput{IdentityPoolId: &pool})
		if err != nil || !reflect.DeepEqual(r.Roles, roles) || r.RoleMappings[devProvider].Type != types.RoleMappingTypeToken {
			t.Errorf("GetIdentityPoolRoles = %+v, %v", r, err)
		}

		// DeleteIdentities: alice is gone with her login.
		del, err := dev2.DeleteIdentities(ctx, &cognitoidentityv2.DeleteIdentitiesInput{IdentityIdsToDelete: []string{alice, synctest.IdentityID()}})
		if err != nil || len(del.UnprocessedIdentityIds) != 0 {
			t.Fatalf("DeleteIdentities = %+v, %v", del, err)
		}
		_, err = dev.DescribeIdentity(&cognitoidentity.DescribeIdentityInput{IdentityId: aws.String(alice)})
		wantAWSError(t, err, "ResourceNotFoundException", 404)
		_, err = aliceSync.ListDatasets(&cognitosync.ListDatasetsInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(alice)})
		if err == nil {
			t.Errorf("credentials of a deleted identity still list datasets")
		}
	})
}

// TestLogins_GuestLogsIn: a guest identity that logs in keeps its id and
// data; from then on it needs its login.
func TestLogins_GuestLogsIn(t *testing.T) {
	s := synctest.Start(t, synctest.Options{})
	dev, _ := v1Identity(s)
	pool := createDevPool(t, dev, true, devProvider)
	guest := s.NewIdentity(t, pool)
	gs := synctest.SyncV1(t, s.URL, guest.V1())
	write(t, gs, pool, guest.ID, "notes", "k", "v")
	id, token := devToken(t, dev, pool, guest.ID, "gina")
	if id != guest.ID {
		t.Fatalf("guest logged in as %s, want %s", id, guest.ID)
	}
	again := synctest.LoginAt(t, s.URL, pool, cognitoLogin(token))
	if again.ID != guest.ID {
		t.Fatalf("GetId with the token = %s", again.ID)
	}
	if got := recordMap(listAll(t, synctest.SyncV1(t, s.URL, again.V1()), pool, guest.ID, "notes", 0).Records); aws.StringValue(got["k"]) != "v" {
		t.Errorf("the guest's data after login: %v", got)
	}
	_, err := synctest.IdentityClient(s.URL, awsv2.AnonymousCredentials{}).GetCredentialsForIdentity(context.Background(),
		&cognitoidentityv2.GetCredentialsForIdentityInput{IdentityId: &guest.ID})
	if code := v2Code(t, err); code != "NotAuthorizedException" {
		t.Errorf("GetCredentialsForIdentity without the login: %s", code)
	}
}
