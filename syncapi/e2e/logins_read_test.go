package e2e_test

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/cognitoidentity"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
)

// v1Identity returns aws-sdk-go v1 Cognito Identity clients for s: one
// with developer credentials, one unsigned.
func v1Identity(s *synctest.Server) (dev, anon *cognitoidentity.CognitoIdentity) {
	sess := func(creds *credentials.Credentials) *session.Session {
		return session.Must(session.NewSession(&aws.Config{
			Endpoint: aws.String(s.URL), Region: aws.String(synctest.Region), Credentials: creds,
			MaxRetries: aws.Int(0), HTTPClient: &http.Client{Timeout: 30 * time.Second},
		}))
	}
	return cognitoidentity.New(sess(credentials.NewStaticCredentials(s.DevKeyID, s.DevSecret, ""))),
		cognitoidentity.New(sess(credentials.AnonymousCredentials))
}

// createDevPool creates a pool with a developer provider through the v1
// client.
func createDevPool(t testing.TB, dev *cognitoidentity.CognitoIdentity, guests bool, provider string) string {
	t.Helper()
	pool := synctest.PoolID()
	in := &cognitoidentity.CreateIdentityPoolInput{
		IdentityPoolName: aws.String("logins"), AllowUnauthenticatedIdentities: aws.Bool(guests),
		IdentityPoolTags: map[string]*string{syncapi.PoolIDTag: aws.String(pool)},
	}
	if provider != "" {
		in.DeveloperProviderName = aws.String(provider)
	}
	if _, err := dev.CreateIdentityPool(in); err != nil {
		t.Fatalf("CreateIdentityPool: %v", err)
	}
	return pool
}

// TestLogins_ReadOperations: ListIdentities, DescribeIdentity and
// LookupDeveloperIdentity through aws-sdk-go v1 (the wire oracle) with
// their shapes, pagination and errors, on both stores.
func TestLogins_ReadOperations(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(testing.TB) storeT) {
		st := newStore(t)
		s := synctest.Start(t, synctest.Options{Store: st})
		dev, anon := v1Identity(s)
		pool := createDevPool(t, dev, true, "login.example")
		ls := st.(syncapi.LoginStore)
		guest := must[*cognitoidentity.GetIdOutput](t)(anon.GetId(&cognitoidentity.GetIdInput{IdentityPoolId: aws.String(pool)}))
		var users []string
		for _, u := range []string{"alice", "bob", "carol"} {
			res, err := ls.Link(t.Context(), syncapi.LinkRequest{PoolID: pool, NewID: synctest.IdentityID(),
				Logins: []syncapi.Login{{Provider: "login.example", Subject: u}}, Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			users = append(users, res.IdentityID)
		}
		// alice has two developer user ids.
		if _, err := ls.Link(t.Context(), syncapi.LinkRequest{PoolID: pool, IdentityID: users[0],
			Logins: []syncapi.Login{{Provider: "login.example", Subject: "alice-2"}}, Now: time.Now()}); err != nil {
			t.Fatal(err)
		}

		// ListIdentities pages by two.
		var listed []string
		var token *string
		for page := 0; ; page++ {
			out, err := dev.ListIdentities(&cognitoidentity.ListIdentitiesInput{IdentityPoolId: aws.String(pool), MaxResults: aws.Int64(2), NextToken: token})
			if err != nil {
				t.Fatalf("ListIdentities: %v", err)
			}
			if aws.StringValue(out.IdentityPoolId) != pool || len(out.Identities) > 2 {
				t.Fatalf("ListIdentities page = %v", out)
			}
			for _, d := range out.Identities {
				listed = append(listed, aws.StringValue(d.IdentityId))
				if d.CreationDate == nil || d.LastModifiedDate == nil {
					t.Errorf("identity %s has no dates: %v", aws.StringValue(d.IdentityId), d)
				}
				wantLogins := []*string{aws.String("login.example")}
				if aws.StringValue(d.IdentityId) == aws.StringValue(guest.IdentityId) {
					wantLogins = nil
				}
				if !reflect.DeepEqual(d.Logins, wantLogins) {
					t.Errorf("identity %s Logins = %v, want %v", aws.StringValue(d.IdentityId), aws.StringValueSlice(d.Logins), aws.StringValueSlice(wantLogins))
				}
			}
			if out.NextToken == nil {
				break
			}
			token = out.NextToken
			if page > 3 {
				t.Fatal("ListIdentities does not end")
			}
		}
		if len(listed) != 4 {
			t.Errorf("ListIdentities listed %v, want the guest and 3 users", listed)
		}

		d, err := dev.DescribeIdentity(&cognitoidentity.DescribeIdentityInput{IdentityId: aws.String(users[1])})
		if err != nil || aws.StringValue(d.IdentityId) != users[1] || len(d.Logins) != 1 || aws.StringValue(d.Logins[0]) != "login.example" {
			t.Errorf("DescribeIdentity = %v, %v", d, err)
		}
		_, err = dev.DescribeIdentity(&cognitoidentity.DescribeIdentityInput{IdentityId: aws.String(synctest.IdentityID())})
		wantAWSError(t, err, "ResourceNotFoundException", 404)

		// LookupDeveloperIdentity by user, by identity, paged, and a mismatch.
		l, err := dev.LookupDeveloperIdentity(&cognitoidentity.LookupDeveloperIdentityInput{IdentityPoolId: aws.String(pool), DeveloperUserIdentifier: aws.String("bob")})
		if err != nil || aws.StringValue(l.IdentityId) != users[1] || !reflect.DeepEqual(aws.StringValueSlice(l.DeveloperUserIdentifierList), []string{"bob"}) {
			t.Errorf("LookupDeveloperIdentity bob = %v, %v", l, err)
		}
		l, err = dev.LookupDeveloperIdentity(&cognitoidentity.LookupDeveloperIdentityInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(users[0]), MaxResults: aws.Int64(1)})
		if err != nil || !reflect.DeepEqual(aws.StringValueSlice(l.DeveloperUserIdentifierList), []string{"alice"}) || l.NextToken == nil {
			t.Fatalf("LookupDeveloperIdentity alice page 1 = %v, %v", l, err)
		}
		l, err = dev.LookupDeveloperIdentity(&cognitoidentity.LookupDeveloperIdentityInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(users[0]), MaxResults: aws.Int64(1), NextToken: l.NextToken})
		if err != nil || !reflect.DeepEqual(aws.StringValueSlice(l.DeveloperUserIdentifierList), []string{"alice-2"}) || l.NextToken != nil {
			t.Errorf("LookupDeveloperIdentity alice page 2 = %v, %v", l, err)
		}
		_, err = dev.LookupDeveloperIdentity(&cognitoidentity.LookupDeveloperIdentityInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(users[2]), DeveloperUserIdentifier: aws.String("bob")})
		wantAWSError(t, err, "ResourceConflictException", 409)
		_, err = dev.LookupDeveloperIdentity(&cognitoidentity.LookupDeveloperIdentityInput{IdentityPoolId: aws.String(pool), DeveloperUserIdentifier: aws.String("nobody")})
		wantAWSError(t, err, "ResourceNotFoundException", 404)
		_, err = dev.LookupDeveloperIdentity(&cognitoidentity.LookupDeveloperIdentityInput{IdentityPoolId: aws.String(pool)})
		wantAWSError(t, err, "InvalidParameterException", 400)

		// Errors: an unknown pool, a bad token, and identity credentials.
		_, err = dev.ListIdentities(&cognitoidentity.ListIdentitiesInput{IdentityPoolId: aws.String(synctest.PoolID()), MaxResults: aws.Int64(10)})
		wantAWSError(t, err, "ResourceNotFoundException", 404)
		_, err = dev.ListIdentities(&cognitoidentity.ListIdentitiesInput{IdentityPoolId: aws.String(pool), MaxResults: aws.Int64(10), NextToken: aws.String("bm90IGFuIGlk")})
		wantAWSError(t, err, "InvalidParameterException", 400)
		_, err = anon.ListIdentities(&cognitoidentity.ListIdentitiesInput{IdentityPoolId: aws.String(pool), MaxResults: aws.Int64(10)})
		if err == nil {
			t.Errorf("unsigned ListIdentities succeeded")
		}
	})
}
