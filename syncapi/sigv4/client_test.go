package sigv4_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/aws/corehandlers"
	v1creds "github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/request"
	"github.com/aws/aws-sdk-go/aws/session"
	v1signer "github.com/aws/aws-sdk-go/aws/signer/v4"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/syncapi/sigv4"
)

// newClient is aws-sdk-go v1's Cognito Sync client pointed at srv, signing
// at the fixed test time; proxyUA rewrites User-Agent after signing.
func newClient(t *testing.T, url string, c cred, proxyUA bool) *cognitosync.CognitoSync {
	t.Helper()
	sess, err := session.NewSession(&aws.Config{
		Region:      aws.String(region),
		Endpoint:    aws.String(url),
		Credentials: v1creds.NewStaticCredentials(c.id, c.secret, c.token),
		MaxRetries:  aws.Int(0),
	})
	if err != nil {
		t.Fatal(err)
	}
	svc := cognitosync.New(sess)
	svc.Handlers.Sign.Swap(v1signer.SignRequestHandler.Name, request.NamedHandler{
		Name: v1signer.SignRequestHandler.Name,
		Fn:   func(r *request.Request) { v1signer.SignSDKRequestWithCurrentTime(r, fixedClock) },
	})
	// It re-signs (printing "request expired, resigning") because our fixed
	// signing time is old by the real clock; re-signing changes nothing.
	svc.Handlers.Send.Remove(corehandlers.ValidateReqSigHandler)
	if proxyUA {
		svc.Handlers.Send.PushFront(func(r *request.Request) { r.HTTPRequest.Header.Set("User-Agent", "proxy/1.0") })
	}
	return svc
}

// The official v1 client, end to end: it signs with service "cognito-sync",
// escapes path labels once (%3A), sends "{}" on GET, and decodes our error
// codes (pinning them against the SDK).
func TestVerify_CognitoSyncClientV1(t *testing.T) {
	fallbacks := sigv4.CountFallbacks(t)
	srv, results := newServer(t, newVerifier(t, fixedClock))
	list := func(svc *cognitosync.CognitoSync) error {
		_, err := svc.ListRecords(&cognitosync.ListRecordsInput{
			IdentityPoolId: aws.String("us-east-1:abc-123"), IdentityId: aws.String("us-east-1:def-456"),
			DatasetName: aws.String("prefs"), NextToken: aws.String("a/b+c="), MaxResults: aws.Int64(10),
			LastSyncCount: aws.Int64(3), SyncSessionToken: aws.String("s t"),
		})
		return err
	}
	update := func(svc *cognitosync.CognitoSync) error {
		_, err := svc.UpdateRecords(&cognitosync.UpdateRecordsInput{
			IdentityPoolId: aws.String("us-east-1:abc-123"), IdentityId: aws.String("us-east-1:def-456"),
			DatasetName: aws.String("prefs"), SyncSessionToken: aws.String("tok"), ClientContext: aws.String("eyJjIjoxfQ=="),
			RecordPatches: []*cognitosync.RecordPatch{{Op: aws.String("replace"), Key: aws.String("k"), Value: aws.String("v"), SyncCount: aws.Int64(0)}},
		})
		return err
	}
	del := func(svc *cognitosync.CognitoSync) error {
		_, err := svc.DeleteDataset(&cognitosync.DeleteDatasetInput{
			IdentityPoolId: aws.String("us-east-1:abc-123"), IdentityId: aws.String("us-east-1:def-456"), DatasetName: aws.String("prefs"),
		})
		return err
	}
	subscribe := func(svc *cognitosync.CognitoSync) error { // POST without body members
		_, err := svc.SubscribeToDataset(&cognitosync.SubscribeToDatasetInput{
			IdentityPoolId: aws.String("us-east-1:abc-123"), IdentityId: aws.String("us-east-1:def-456"),
			DatasetName: aws.String("prefs"), DeviceId: aws.String("device/1"),
		})
		return err
	}
	for _, tc := range []struct {
		name    string
		cred    cred
		proxyUA bool
		call    func(*cognitosync.CognitoSync) error
		want    any    // principal on success
		code    string // AWS error code the client must see
	}{
		{name: "ListRecords, developer key", cred: longTerm, call: list, want: "developer"},
		{name: "ListRecords, identity credentials", cred: temp, call: list, want: "identity"},
		{name: "ListRecords, User-Agent rewritten", cred: temp, proxyUA: true, call: list, want: "identity"},
		{name: "UpdateRecords", cred: temp, call: update, want: "identity"},
		{name: "DeleteDataset", cred: temp, call: del, want: "identity"},
		{name: "SubscribeToDataset", cred: temp, call: subscribe, want: "identity"},
		{name: "wrong secret", cred: cred{temp.id, "wrong", temp.token}, call: list, code: "InvalidSignatureException"},
		{name: "unknown key", cred: cred{"ASIANOPE", "x", "y"}, call: list, code: "UnrecognizedClientException"},
		{name: "wrong session token", cred: cred{temp.id, temp.secret, "other"}, call: update, code: "UnrecognizedClientException"},
		{name: "expired credentials", cred: expired, call: list, code: "ExpiredTokenException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(newClient(t, srv.URL, tc.cred, tc.proxyUA))
			got := <-results
			var ae awserr.Error
			switch {
			case tc.code == "" && (err != nil || got.err != nil):
				t.Fatalf("client: %v; Verify: %v", err, got.err)
			case tc.code == "" && got.principal != tc.want:
				t.Errorf("principal = %v, want %v", got.principal, tc.want)
			case tc.code != "" && (!errors.As(err, &ae) || ae.Code() != tc.code || codeOf(got.err) != tc.code):
				t.Errorf("client error %v, Verify %v; want %s", err, got.err, tc.code)
			}
		})
	}
	if fallbacks.Load() != 0 {
		t.Errorf("fallbacks = %d, want 0", fallbacks.Load())
	}
}
