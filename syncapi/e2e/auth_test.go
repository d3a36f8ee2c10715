package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/synctest"
)

// authFixture is a pool with two identities, A and B, where B owns a dataset.
type authFixture struct {
	srv        *synctest.Server
	pool       string
	a, b       synctest.Identity
	dev, userA *cognitosync.CognitoSync
	device     string // A's device
}

func newAuthFixture(t *testing.T, o synctest.Options) *authFixture {
	t.Helper()
	f := &authFixture{srv: synctest.Start(t, o), pool: synctest.PoolID()}
	f.srv.CreatePool(t, f.pool)
	f.dev = f.srv.DevSyncV1(t)
	must[*cognitosync.SetIdentityPoolConfigurationOutput](t)(f.dev.SetIdentityPoolConfiguration(&cognitosync.SetIdentityPoolConfigurationInput{
		IdentityPoolId: aws.String(f.pool),
		PushSync:       &cognitosync.PushSync{ApplicationArns: []*string{aws.String("arn:aws:sns:us-east-1:123456789012:app/GCM/App")}},
	}))
	f.a, f.b = f.srv.NewIdentity(t, f.pool), f.srv.NewIdentity(t, f.pool)
	f.userA = synctest.SyncV1(t, f.srv.URL, f.a.V1())
	userB := synctest.SyncV1(t, f.srv.URL, f.b.V1())
	lr := listAll(t, userB, f.pool, f.b.ID, "data", 0)
	must[*cognitosync.UpdateRecordsOutput](t)(update(userB, f.pool, f.b.ID, "data", *lr.SyncSessionToken, replace("k", "b's value", 0)))
	reg := must[*cognitosync.RegisterDeviceOutput](t)(f.userA.RegisterDevice(&cognitosync.RegisterDeviceInput{
		IdentityPoolId: aws.String(f.pool), IdentityId: aws.String(f.a.ID), Platform: aws.String("GCM"), Token: aws.String("tok")}))
	f.device = *reg.DeviceId
	return f
}

// snapshot is B's dataset as the developer sees it, to prove nothing changed.
func (f *authFixture) snapshot(t *testing.T) string {
	t.Helper()
	lr := listAll(t, f.dev, f.pool, f.b.ID, "data", 0)
	lr.SyncSessionToken = nil
	b, _ := json.Marshal(lr)
	return string(b)
}

// TestAuth_BadCredentials: every way to fail authentication gets its AWS
// error, and B's data is unchanged afterwards.
func TestAuth_BadCredentials(t *testing.T) {
	f := newAuthFixture(t, synctest.Options{})
	before := f.snapshot(t)
	write := func(c *cognitosync.CognitoSync) error {
		_, err := update(c, f.pool, f.b.ID, "data", "token", replace("k", "evil", 1))
		return err
	}
	creds := func(id, secret, token string) *cognitosync.CognitoSync {
		return synctest.SyncV1(t, f.srv.URL, credentials.NewStaticCredentials(id, secret, token))
	}
	cases := []struct {
		name   string
		client *cognitosync.CognitoSync
		code   string
		status int
	}{
		{"wrong secret", creds(f.srv.DevKeyID, "not-the-secret", ""), "InvalidSignatureException", 403},
		{"unknown key", creds("AKIDUNKNOWN000000000", "whatever", ""), "UnrecognizedClientException", 403},
		{"unsigned", synctest.SyncV1(t, f.srv.URL, credentials.AnonymousCredentials), "MissingAuthenticationTokenException", 403},
		{"identity key without session token", creds(f.b.Creds.AccessKeyID, f.b.Creds.SecretAccessKey, ""), "UnrecognizedClientException", 403},
		{"identity key with wrong session token", creds(f.b.Creds.AccessKeyID, f.b.Creds.SecretAccessKey, f.a.Creds.SessionToken), "UnrecognizedClientException", 403},
		{"identity key with wrong secret", creds(f.b.Creds.AccessKeyID, f.a.Creds.SecretAccessKey, f.b.Creds.SessionToken), "InvalidSignatureException", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantAWSError(t, write(tc.client), tc.code, tc.status)
			_, err := tc.client.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: aws.String(f.pool), IdentityId: aws.String(f.b.ID), DatasetName: aws.String("data")})
			wantAWSError(t, err, tc.code, tc.status)
		})
	}
	if after := f.snapshot(t); after != before {
		t.Fatalf("data changed by rejected requests:\n%s\n%s", before, after)
	}
}

// TestAuth_ExpiredCredentials: identity credentials stop working at their
// Expiration with ExpiredTokenException (which SDKs refresh on).
func TestAuth_ExpiredCredentials(t *testing.T) {
	clock := synctest.NewClock(time.Now())
	f := newAuthFixture(t, synctest.Options{CredentialTTL: 2 * time.Second, Now: clock.Now})
	listAll(t, f.userA, f.pool, f.a.ID, "data", 0) // works while fresh
	clock.Advance(f.a.Creds.Expires.Sub(clock.Now()) - time.Millisecond)
	listAll(t, f.userA, f.pool, f.a.ID, "data", 0) // and until they expire
	clock.Advance(time.Millisecond)
	_, err := f.userA.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: aws.String(f.pool), IdentityId: aws.String(f.a.ID), DatasetName: aws.String("data")})
	wantAWSError(t, err, "ExpiredTokenException", 403)
}

// TestAuth_OldSignature: a request signed 20 minutes ago is refused with
// InvalidSignatureException (the code JS SDKs correct their clock on).
func TestAuth_OldSignature(t *testing.T) {
	f := newAuthFixture(t, synctest.Options{})
	for _, age := range []time.Duration{-20 * time.Minute, 20 * time.Minute} {
		url := f.srv.URL + "/identitypools/" + escapeLabel(f.pool) + "/identities/" + escapeLabel(f.b.ID) + "/datasets/data/records"
		req, _ := http.NewRequest("GET", url, nil)
		sum := sha256.Sum256(nil)
		err := v4.NewSigner().SignHTTP(context.Background(), awsv2.Credentials{AccessKeyID: f.srv.DevKeyID, SecretAccessKey: f.srv.DevSecret},
			req, hex.EncodeToString(sum[:]), "cognito-sync", synctest.Region, time.Now().Add(age))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.Header.Get("x-amzn-ErrorType") != "InvalidSignatureException" || body.Type != "InvalidSignatureException" {
			t.Fatalf("signature %v old: %d %s %+v", age, resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body)
		}
		if resp.Header.Get("Date") == "" {
			t.Fatal("no Date header: JS SDKs cannot correct their clock")
		}
	}
	// The same request signed now works: the test above fails for the age only.
	url := f.srv.URL + "/identitypools/" + escapeLabel(f.pool) + "/identities/" + escapeLabel(f.b.ID) + "/datasets/data/records"
	req, _ := http.NewRequest("GET", url, bytes.NewReader(nil))
	sum := sha256.Sum256(nil)
	v4.NewSigner().SignHTTP(context.Background(), awsv2.Credentials{AccessKeyID: f.srv.DevKeyID, SecretAccessKey: f.srv.DevSecret},
		req, hex.EncodeToString(sum[:]), "cognito-sync", synctest.Region, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("fresh signature: %d", resp.StatusCode)
	}
}

// TestAuth_CallerClasses: identity A on B's data, identity credentials on
// developer-only operations and developer credentials on identity-only
// operations all get NotAuthorizedException 403, and change nothing.
func TestAuth_CallerClasses(t *testing.T) {
	f := newAuthFixture(t, synctest.Options{})
	before := f.snapshot(t)
	P, B, A := aws.String(f.pool), aws.String(f.b.ID), aws.String(f.a.ID)
	ds := aws.String("data")
	a := f.userA
	calls := map[string]func() error{
		// A on B's data (either-class operations).
		"A ListRecords B": func() error {
			_, err := a.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: P, IdentityId: B, DatasetName: ds})
			return err
		},
		"A UpdateRecords B": func() error {
			_, err := update(a, f.pool, f.b.ID, "data", "t", replace("k", "evil", 1))
			return err
		},
		"A DescribeDataset B": func() error {
			_, err := a.DescribeDataset(&cognitosync.DescribeDatasetInput{IdentityPoolId: P, IdentityId: B, DatasetName: ds})
			return err
		},
		"A DeleteDataset B": func() error {
			_, err := a.DeleteDataset(&cognitosync.DeleteDatasetInput{IdentityPoolId: P, IdentityId: B, DatasetName: ds})
			return err
		},
		"A ListDatasets B": func() error {
			_, err := a.ListDatasets(&cognitosync.ListDatasetsInput{IdentityPoolId: P, IdentityId: B})
			return err
		},
		"A DescribeIdentityUsage B": func() error {
			_, err := a.DescribeIdentityUsage(&cognitosync.DescribeIdentityUsageInput{IdentityPoolId: P, IdentityId: B})
			return err
		},
		"A RegisterDevice B": func() error {
			_, err := a.RegisterDevice(&cognitosync.RegisterDeviceInput{IdentityPoolId: P, IdentityId: B, Platform: aws.String("GCM"), Token: aws.String("x")})
			return err
		},
		"A SubscribeToDataset B": func() error {
			_, err := a.SubscribeToDataset(&cognitosync.SubscribeToDatasetInput{IdentityPoolId: P, IdentityId: B, DatasetName: ds, DeviceId: aws.String(f.device)})
			return err
		},
		"A UnsubscribeFromDataset B": func() error {
			_, err := a.UnsubscribeFromDataset(&cognitosync.UnsubscribeFromDatasetInput{IdentityPoolId: P, IdentityId: B, DatasetName: ds, DeviceId: aws.String(f.device)})
			return err
		},
		"A in another pool": func() error {
			_, err := a.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: aws.String(synctest.PoolID()), IdentityId: A, DatasetName: ds})
			return err
		},
		// Identity credentials on developer-only operations.
		"A BulkPublish": func() error { _, err := a.BulkPublish(&cognitosync.BulkPublishInput{IdentityPoolId: P}); return err },
		"A DescribeIdentityPoolUsage": func() error {
			_, err := a.DescribeIdentityPoolUsage(&cognitosync.DescribeIdentityPoolUsageInput{IdentityPoolId: P})
			return err
		},
		"A GetBulkPublishDetails": func() error {
			_, err := a.GetBulkPublishDetails(&cognitosync.GetBulkPublishDetailsInput{IdentityPoolId: P})
			return err
		},
		"A GetCognitoEvents": func() error {
			_, err := a.GetCognitoEvents(&cognitosync.GetCognitoEventsInput{IdentityPoolId: P})
			return err
		},
		"A GetIdentityPoolConfiguration": func() error {
			_, err := a.GetIdentityPoolConfiguration(&cognitosync.GetIdentityPoolConfigurationInput{IdentityPoolId: P})
			return err
		},
		"A ListIdentityPoolUsage": func() error {
			_, err := a.ListIdentityPoolUsage(&cognitosync.ListIdentityPoolUsageInput{})
			return err
		},
		"A SetCognitoEvents": func() error {
			_, err := a.SetCognitoEvents(&cognitosync.SetCognitoEventsInput{IdentityPoolId: P, Events: map[string]*string{"SyncTrigger": aws.String("arn:aws:lambda:us-east-1:1:function:f")}})
			return err
		},
		"A SetIdentityPoolConfiguration": func() error {
			_, err := a.SetIdentityPoolConfiguration(&cognitosync.SetIdentityPoolConfigurationInput{IdentityPoolId: P, CognitoStreams: &cognitosync.CognitoStreams{StreamName: aws.String("x"), StreamingStatus: aws.String("ENABLED")}})
			return err
		},
		// Developer credentials on identity-only operations.
		"dev RegisterDevice": func() error {
			_, err := f.dev.RegisterDevice(&cognitosync.RegisterDeviceInput{IdentityPoolId: P, IdentityId: A, Platform: aws.String("GCM"), Token: aws.String("x")})
			return err
		},
		"dev SubscribeToDataset": func() error {
			_, err := f.dev.SubscribeToDataset(&cognitosync.SubscribeToDatasetInput{IdentityPoolId: P, IdentityId: A, DatasetName: ds, DeviceId: aws.String(f.device)})
			return err
		},
		"dev UnsubscribeFromDataset": func() error {
			_, err := f.dev.UnsubscribeFromDataset(&cognitosync.UnsubscribeFromDatasetInput{IdentityPoolId: P, IdentityId: A, DatasetName: ds, DeviceId: aws.String(f.device)})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) { wantAWSError(t, call(), "NotAuthorizedException", 403) })
	}
	if after := f.snapshot(t); after != before {
		t.Fatalf("B's data changed:\n%s\n%s", before, after)
	}
	ev := must[*cognitosync.GetCognitoEventsOutput](t)(f.dev.GetCognitoEvents(&cognitosync.GetCognitoEventsInput{IdentityPoolId: P}))
	cfg := must[*cognitosync.GetIdentityPoolConfigurationOutput](t)(f.dev.GetIdentityPoolConfiguration(&cognitosync.GetIdentityPoolConfigurationInput{IdentityPoolId: P}))
	if len(ev.Events) != 0 || cfg.CognitoStreams != nil {
		t.Fatalf("pool configuration changed by refused calls: %v %v", ev, cfg)
	}
}

// escapeLabel escapes a path label as the AWS SDKs do (':' -> %3A).
func escapeLabel(s string) string {
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}
