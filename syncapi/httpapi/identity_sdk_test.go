package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity/types"
	"github.com/aws/smithy-go"

	"github.com/cognitosync/cognitosync/syncapi"
)

// newIdentitySDK returns the official aws-sdk-go-v2 Cognito Identity client
// for url; it never retries.
func newIdentitySDK(url string, creds aws.CredentialsProvider) *cognitoidentity.Client {
	return cognitoidentity.New(cognitoidentity.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  creds,
		Retryer:      aws.NopRetryer{},
	})
}

var devCreds = credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")

var fullPool = syncapi.IdentityPool{
	IdentityPoolID: poolID, IdentityPoolName: "My Pool", AllowUnauthenticatedIdentities: true,
	AllowClassicFlow:          ptr(false),
	SupportedLoginProviders:   map[string]string{"graph.facebook.com": "123"},
	DeveloperProviderName:     "login.example",
	OpenIDConnectProviderARNs: []string{"arn:aws:iam::123456789012:oidc-provider/x"},
	CognitoIdentityProviders:  []syncapi.CognitoIdentityProvider{{ProviderName: "cognito-idp.us-east-1.amazonaws.com/us-east-1_X", ClientID: "c", ServerSideTokenCheck: ptr(true)}},
	SamlProviderARNs:          []string{"arn:aws:iam::123456789012:saml-provider/s"},
	IdentityPoolTags:          map[string]string{"syncd:IdentityPoolId": poolID},
}

func checkPool(t *testing.T, id, name *string, unauth bool, classic *bool, tags map[string]string) {
	t.Helper()
	if aws.ToString(id) != poolID || aws.ToString(name) != "My Pool" || !unauth || classic == nil || *classic ||
		tags["syncd:IdentityPoolId"] != poolID {
		t.Errorf("pool = %v %v %v %v %v", aws.ToString(id), aws.ToString(name), unauth, classic, tags)
	}
}

// TestIdentityOperations_SDK round-trips the seven Cognito Identity
// operations through the aws-sdk-go-v2 client.
func TestIdentityOperations_SDK(t *testing.T) {
	expiration := ts(1700003600000)
	cases := []struct {
		name    string
		signed  bool
		install func(f *fakeIdentity, r *recorder)
		call    func(ctx context.Context, c *cognitoidentity.Client) (any, error)
		wantIn  any
		check   func(t *testing.T, out any)
	}{
		{
			name: "CreateIdentityPool", signed: true,
			install: func(f *fakeIdentity, r *recorder) { f.CreateIdentityPoolFn = record[syncapi.IdentityPool](r, fullPool) },
			call: func(ctx context.Context, c *cognitoidentity.Client) (any, error) {
				return c.CreateIdentityPool(ctx, &cognitoidentity.CreateIdentityPoolInput{
					IdentityPoolName: aws.String("My Pool"), AllowUnauthenticatedIdentities: true, AllowClassicFlow: aws.Bool(false),
					SupportedLoginProviders: map[string]string{"graph.facebook.com": "123"}, DeveloperProviderName: aws.String("login.example"),
					OpenIdConnectProviderARNs: []string{"arn:aws:iam::123456789012:oidc-provider/x"},
					CognitoIdentityProviders: []types.CognitoIdentityProvider{{ProviderName: aws.String("cognito-idp.us-east-1.amazonaws.com/us-east-1_X"),
						ClientId: aws.String("c"), ServerSideTokenCheck: aws.Bool(true)}},
					SamlProviderARNs: []string{"arn:aws:iam::123456789012:saml-provider/s"},
					IdentityPoolTags: map[string]string{"syncd:IdentityPoolId": poolID},
				})
			},
			wantIn: func() syncapi.IdentityPool { p := fullPool; p.IdentityPoolID = ""; return p }(),
			check: func(t *testing.T, out any) {
				o := out.(*cognitoidentity.CreateIdentityPoolOutput)
				checkPool(t, o.IdentityPoolId, o.IdentityPoolName, o.AllowUnauthenticatedIdentities, o.AllowClassicFlow, o.IdentityPoolTags)
				if len(o.CognitoIdentityProviders) != 1 || !aws.ToBool(o.CognitoIdentityProviders[0].ServerSideTokenCheck) {
					t.Errorf("CognitoIdentityProviders = %v", o.CognitoIdentityProviders)
				}
			},
		},
		{
			name: "DescribeIdentityPool", signed: true,
			install: func(f *fakeIdentity, r *recorder) {
				f.DescribeIdentityPoolFn = record[syncapi.IdentityPoolIDInput](r, fullPool)
			},
			call: func(ctx context.Context, c *cognitoidentity.Client) (any, error) {
				return c.DescribeIdentityPool(ctx, &cognitoidentity.DescribeIdentityPoolInput{IdentityPoolId: aws.String(poolID)})
			},
			wantIn: syncapi.IdentityPoolIDInput{IdentityPoolID: poolID},
			check: func(t *testing.T, out any) {
				o := out.(*cognitoidentity.DescribeIdentityPoolOutput)
				checkPool(t, o.IdentityPoolId, o.IdentityPoolName, o.AllowUnauthenticatedIdentities, o.AllowClassicFlow, o.IdentityPoolTags)
			},
		},
		{
			name: "ListIdentityPools", signed: true,
			install: func(f *fakeIdentity, r *recorder) {
				f.ListIdentityPoolsFn = record[syncapi.ListIdentityPoolsInput](r, syncapi.ListIdentityPoolsOutput{
					IdentityPools: []syncapi.IdentityPoolShort{{IdentityPoolID: poolID, IdentityPoolName: "My Pool"}}, NextToken: "n2"})
			},
			call: func(ctx context.Context, c *cognitoidentity.Client) (any, error) {
				return c.ListIdentityPools(ctx, &cognitoidentity.ListIdentityPoolsInput{MaxResults: aws.Int32(60), NextToken: aws.String("n1")})
			},
			wantIn: syncapi.ListIdentityPoolsInput{MaxResults: ptr[int32](60), NextToken: "n1"},
			check: func(t *testing.T, out any) {
				o := out.(*cognitoidentity.ListIdentityPoolsOutput)
				if len(o.IdentityPools) != 1 || aws.ToString(o.IdentityPools[0].IdentityPoolId) != poolID ||
					aws.ToString(o.IdentityPools[0].IdentityPoolName) != "My Pool" || aws.ToString(o.NextToken) != "n2" {
					t.Errorf("output = %+v", o)
				}
			},
		},
		{
			name: "UpdateIdentityPool", signed: true,
			install: func(f *fakeIdentity, r *recorder) { f.UpdateIdentityPoolFn = record[syncapi.IdentityPool](r, fullPool) },
			call: func(ctx context.Context, c *cognitoidentity.Client) (any, error) {
				return c.UpdateIdentityPool(ctx, &cognitoidentity.UpdateIdentityPoolInput{IdentityPoolId: aws.String(poolID),
					IdentityPoolName: aws.String("My Pool"), AllowUnauthenticatedIdentities: false})
			},
			wantIn: syncapi.IdentityPool{IdentityPoolID: poolID, IdentityPoolName: "My Pool"},
			check: func(t *testing.T, out any) {
				o := out.(*cognitoidentity.UpdateIdentityPoolOutput)
				checkPool(t, o.IdentityPoolId, o.IdentityPoolName, o.AllowUnauthenticatedIdentities, o.AllowClassicFlow, o.IdentityPoolTags)
			},
		},
		{
			name: "DeleteIdentityPool", signed: true,
			install: func(f *fakeIdentity, r *recorder) {
				f.DeleteIdentityPoolFn = recordErr[syncapi.IdentityPoolIDInput](r)
			},
			call: func(ctx context.Context, c *cognitoidentity.Client) (any, error) {
				return c.DeleteIdentityPool(ctx, &cognitoidentity.DeleteIdentityPoolInput{IdentityPoolId: aws.String(poolID)})
			},
			wantIn: syncapi.IdentityPoolIDInput{IdentityPoolID: poolID},
			check:  func(t *testing.T, out any) {},
		},
		{
			name: "GetId",
			install: func(f *fakeIdentity, r *recorder) {
				f.GetIDFn = record[syncapi.GetIDInput](r, syncapi.GetIDOutput{IdentityID: idID})
			},
			call: func(ctx context.Context, c *cognitoidentity.Client) (any, error) {
				return c.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(poolID), AccountId: aws.String("123456789012"),
					Logins: map[string]string{"login.example": "token"}})
			},
			wantIn: syncapi.GetIDInput{IdentityPoolID: poolID, AccountID: "123456789012", Logins: map[string]string{"login.example": "token"}},
			check: func(t *testing.T, out any) {
				if got := aws.ToString(out.(*cognitoidentity.GetIdOutput).IdentityId); got != idID {
					t.Errorf("IdentityId = %q", got)
				}
			},
		},
		{
			name: "GetCredentialsForIdentity",
			install: func(f *fakeIdentity, r *recorder) {
				f.GetCredentialsForIdentityFn = record[syncapi.GetCredentialsForIdentityInput](r, syncapi.GetCredentialsForIdentityOutput{
					IdentityID: idID, Credentials: syncapi.IdentityCredentials{AccessKeyID: "ASIATEST", SecretKey: "sk", SessionToken: "st", Expiration: expiration}})
			},
			call: func(ctx context.Context, c *cognitoidentity.Client) (any, error) {
				return c.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: aws.String(idID)})
			},
			wantIn: syncapi.GetCredentialsForIdentityInput{IdentityID: idID},
			check: func(t *testing.T, out any) {
				o := out.(*cognitoidentity.GetCredentialsForIdentityOutput)
				c := o.Credentials
				if aws.ToString(o.IdentityId) != idID || c == nil || aws.ToString(c.AccessKeyId) != "ASIATEST" ||
					aws.ToString(c.SecretKey) != "sk" || aws.ToString(c.SessionToken) != "st" ||
					!aws.ToTime(c.Expiration).Equal(time.UnixMilli(1700003600000)) {
					t.Errorf("output = %+v %+v", o, c)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			s.auth.Fn = requireSigV4(t)
			var rec recorder
			tc.install(s.identity, &rec)
			creds := aws.CredentialsProvider(aws.AnonymousCredentials{})
			if tc.signed {
				creds = devCreds
			}
			out, err := tc.call(context.Background(), newIdentitySDK(s.URL, creds))
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if rec.calls != 1 {
				t.Fatalf("fake called %d times", rec.calls)
			}
			if !reflect.DeepEqual(rec.in, tc.wantIn) {
				t.Errorf("input\n got %#v\nwant %#v", rec.in, tc.wantIn)
			}
			calls := s.auth.calls()
			if tc.signed {
				if len(calls) != 1 || calls[0] != "cognito-identity" || rec.caller != testCaller {
					t.Errorf("Authenticate services = %v, caller %+v", calls, rec.caller)
				}
			} else if len(calls) != 0 {
				t.Errorf("unsigned operation authenticated: %v", calls)
			}
			tc.check(t, out)
		})
	}
}

// TestIdentityUnsigned_IgnoresSignature: a signed GetId (some SDKs sign
// anyway) is served without asking the Authenticator.
func TestIdentityUnsigned_IgnoresSignature(t *testing.T) {
	s := newServer(t)
	s.auth.Fn = func(*http.Request, string) (syncapi.Caller, error) {
		return syncapi.Caller{}, &syncapi.AuthError{Code: "InvalidSignatureException", Message: "bad"}
	}
	r := doRaw(t, "POST", s.URL+"/", `{"IdentityPoolId":"p"}`, map[string]string{
		"X-Amz-Target":  "AWSCognitoIdentityService.GetId",
		"Content-Type":  "application/x-amz-json-1.1",
		"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/cognito-identity/aws4_request, SignedHeaders=host, Signature=00",
	})
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	requireCommonHeaders(t, r, "application/x-amz-json-1.1")
	if calls := s.auth.calls(); len(calls) != 0 {
		t.Errorf("Authenticate called: %v", calls)
	}
}

func TestIdentityErrors_SDK(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		target any // pointer to the typed SDK error
		code   string
	}{
		{"NotFound", syncapi.Errorf(syncapi.ErrNotFound, "IdentityPool 'p' not found."), new(*types.ResourceNotFoundException), "ResourceNotFoundException"},
		{"NotAuthorized", syncapi.Errorf(syncapi.ErrNotAuthorized, "Unauthenticated access is not supported for this identity pool."), new(*types.NotAuthorizedException), "NotAuthorizedException"},
		{"Conflict", syncapi.Errorf(syncapi.ErrConflict, "conflict"), new(*types.ResourceConflictException), "ResourceConflictException"},
		{"Throttled", syncapi.Errorf(syncapi.ErrTooManyRequests, "slow"), new(*types.TooManyRequestsException), "TooManyRequestsException"},
		{"External", syncapi.Errorf(syncapi.ErrExternalService, "idp down"), new(*types.ExternalServiceException), "ExternalServiceException"},
		{"PoolConfig", syncapi.Errorf(syncapi.ErrIdentityPoolConfig, "Invalid identity pool configuration."), new(*types.InvalidIdentityPoolConfigurationException), "InvalidIdentityPoolConfigurationException"},
		{"Invalid", &syncapi.ValidationError{Field: "IdentityPoolId", Reason: "bad"}, new(*types.InvalidParameterException), "InvalidParameterException"},
		{"Internal", errors.New("db down"), new(*types.InternalErrorException), "InternalErrorException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			s.identity.GetCredentialsForIdentityFn = func(context.Context, syncapi.GetCredentialsForIdentityInput) (syncapi.GetCredentialsForIdentityOutput, error) {
				return syncapi.GetCredentialsForIdentityOutput{}, tc.err
			}
			// GetCredentialsForIdentity declares every code tested here except
			// LimitExceeded; the SDK types only the errors an operation declares.
			_, err := newIdentitySDK(s.URL, aws.AnonymousCredentials{}).GetCredentialsForIdentity(context.Background(),
				&cognitoidentity.GetCredentialsForIdentityInput{IdentityId: aws.String(idID)})
			if !errors.As(err, tc.target) {
				t.Fatalf("error %T %v is not %T", err, err, tc.target)
			}
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != tc.code {
				t.Errorf("ErrorCode = %v, want %s", api, tc.code)
			}
		})
	}
}

func TestIdentityAuthError_SDK(t *testing.T) {
	s := newServer(t)
	s.auth.Fn = func(*http.Request, string) (syncapi.Caller, error) {
		return syncapi.Caller{}, &syncapi.AuthError{Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid."}
	}
	_, err := newIdentitySDK(s.URL, devCreds).ListIdentityPools(context.Background(), &cognitoidentity.ListIdentityPoolsInput{MaxResults: aws.Int32(10)})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "UnrecognizedClientException" || api.ErrorMessage() != "The security token included in the request is invalid." {
		t.Errorf("error = %v", err)
	}
}

func TestIdentity_UnknownTarget(t *testing.T) {
	s := newServer(t)
	for _, target := range []string{"AWSCognitoIdentityService.GetPrincipalTagAttributeMap", "Other.GetId", ""} {
		r := doRaw(t, "POST", s.URL+"/", `{}`, map[string]string{"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
		requireRawError(t, r, 400, "UnknownOperationException", "application/x-amz-json-1.1")
	}
}
