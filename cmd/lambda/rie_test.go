package main

// End-to-end tests of the SyncTrigger: the real cmd/lambda binary runs in
// the AWS Lambda Runtime Interface Emulator (installed with go install at a
// pinned pseudo-version), syncd invokes it through the Lambda Invoke API
// during UpdateRecords made by aws-sdk-go v1 with identity credentials.
// Without the emulator these tests skip locally and fail under CI=true.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi/trigger"
)

const functionArn = "arn:aws:lambda:us-east-1:123456789012:function:synctrigger"

// rie runs the function built with the test-only tag synctriggerfault
// (SYNCTRIGGER_FAULT works); production is the function as deployed. Both
// are built by TestMain.
var rie, production synctest.LambdaRIE

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "synctrigger-rie-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rie = synctest.BuildLambdaRIE(filepath.Join(dir, "test"), "synctriggerfault")
	production = synctest.BuildLambdaRIE(filepath.Join(dir, "production"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stack is syncd with a pool whose SyncTrigger is cmd/lambda in the
// emulator, and an identity's official SDK client.
type stack struct {
	srv  *synctest.Server
	pool string
	id   string
	user *cognitosync.CognitoSync
	dev  *cognitosync.CognitoSync
}

// operatorRules is what an operator would put in SYNCTRIGGER_RULES.
const operatorRules = `{"rules": [
  {"type": "deny_keys", "keys": ["admin*"]},
  {"type": "regex", "datasets": ["settings"], "keys": ["score*"], "pattern": "^[0-9]+$", "message": "Scores must be whole numbers."},
  {"type": "transform", "keys": ["email"], "ops": ["trim", "lower"]},
  {"type": "stamp", "datasets": ["settings"], "key": "_updatedBy", "source": "identity_id"},
  {"type": "require", "datasets": ["purchases"], "dataset": "profile", "key": "verified", "pattern": "^true$",
   "message": "Verify your e-mail address before buying."},
  {"type": "audit", "datasets": ["settings"], "target": "audit"}
]}`

func newStack(tb testing.TB, rules, fault string) *stack {
	tb.Helper()
	return newStackWith(tb, rie, rules, fault)
}

// newStackWith is newStack with the function build fn.
func newStackWith(tb testing.TB, fn synctest.LambdaRIE, rules, fault string) *stack {
	tb.Helper()
	fn.Require(tb)
	addr := synctest.FreeAddr(tb)
	cl := lambda.New(lambda.Options{
		Region: synctest.Region, BaseEndpoint: awsv2.String("http://" + addr),
		Credentials: synctest.StaticV2("rie", "rie", ""), RetryMaxAttempts: 1,
	})
	inv, err := trigger.NewLambdaInvoker(trigger.LambdaConfig{Client: cl, FunctionName: "function"})
	if err != nil {
		tb.Fatal(err)
	}
	s := &stack{srv: synctest.Start(tb, synctest.Options{Trigger: inv}), pool: synctest.PoolID()}
	fn.Start(tb, addr, map[string]string{
		"SYNCTRIGGER_RULES":         rules,
		"SYNCTRIGGER_FAULT":         fault,
		"SYNCTRIGGER_SYNC_ENDPOINT": s.srv.URL,
		"AWS_ACCESS_KEY_ID":         s.srv.DevKeyID,
		"AWS_SECRET_ACCESS_KEY":     s.srv.DevSecret,
		"AWS_REGION":                synctest.Region,
	})
	s.srv.CreatePool(tb, s.pool)
	s.dev = s.srv.DevSyncV1(tb)
	_, err = s.dev.SetCognitoEvents(&cognitosync.SetCognitoEventsInput{
		IdentityPoolId: aws.String(s.pool), Events: map[string]*string{"SyncTrigger": aws.String(functionArn)}})
	if err != nil {
		tb.Fatal(err)
	}
	idn := s.srv.NewIdentity(tb, s.pool)
	s.id, s.user = idn.ID, synctest.SyncV1(tb, s.srv.URL, idn.V1())
	return s
}

func (s *stack) list(tb testing.TB, c *cognitosync.CognitoSync, ds string) *cognitosync.ListRecordsOutput {
	tb.Helper()
	out, err := c.ListRecords(&cognitosync.ListRecordsInput{
		IdentityPoolId: aws.String(s.pool), IdentityId: aws.String(s.id), DatasetName: aws.String(ds)})
	if err != nil {
		tb.Fatalf("ListRecords %s: %v", ds, err)
	}
	return out
}

func (s *stack) update(c *cognitosync.CognitoSync, ds, token string, patches ...*cognitosync.RecordPatch) (*cognitosync.UpdateRecordsOutput, error) {
	return c.UpdateRecords(&cognitosync.UpdateRecordsInput{
		IdentityPoolId: aws.String(s.pool), IdentityId: aws.String(s.id), DatasetName: aws.String(ds),
		SyncSessionToken: aws.String(token), RecordPatches: patches})
}

func put(key, value string, count int64) *cognitosync.RecordPatch {
	return &cognitosync.RecordPatch{Op: aws.String("replace"), Key: aws.String(key), Value: aws.String(value), SyncCount: aws.Int64(count)}
}

func values(recs []*cognitosync.Record) map[string]string {
	m := map[string]string{}
	for _, r := range recs {
		m[*r.Key] = aws.StringValue(r.Value)
	}
	return m
}

func wantError(tb testing.TB, err error, code string, status int, msgPart string) {
	tb.Helper()
	var rf awserr.RequestFailure
	if !errors.As(err, &rf) {
		tb.Fatalf("want %s (%d), got %v", code, status, err)
	}
	if rf.Code() != code || rf.StatusCode() != status || !strings.Contains(rf.Message(), msgPart) {
		tb.Fatalf("want %s (%d) containing %q, got %s (%d): %s", code, status, msgPart, rf.Code(), rf.StatusCode(), rf.Message())
	}
}

// TestRIE_Rules: transforms, stamps and audit records show in the response
// and in storage; rejections yield InvalidLambdaFunctionOutputException and
// store nothing; a rule reads another dataset through the sync API;
// developer writes skip the trigger.
func TestRIE_Rules(t *testing.T) {
	s := newStack(t, operatorRules, "")
	tok := *s.list(t, s.user, "settings").SyncSessionToken

	// Transform + stamp + audit.
	up, err := s.update(s.user, "settings", tok, put("email", "  Alice@Example.COM ", 0), put("score", "42", 0))
	if err != nil {
		t.Fatalf("UpdateRecords: %v", err)
	}
	got := values(up.Records)
	want := map[string]string{"email": "alice@example.com", "score": "42", "_updatedBy": s.id}
	if !mapsEqual(got, want) {
		t.Fatalf("response records %v, want %v", got, want)
	}
	if stored := values(s.list(t, s.user, "settings").Records); !mapsEqual(stored, want) {
		t.Fatalf("stored %v, want %v", stored, want)
	}
	audit := values(s.list(t, s.user, "audit").Records)
	if !strings.Contains(audit["settings/email"], `"value":"alice@example.com"`) || audit["settings/score"] == "" {
		t.Fatalf("audit dataset %v", audit)
	}

	// Rejections store nothing.
	before := *s.list(t, s.user, "settings").DatasetSyncCount
	_, err = s.update(s.user, "settings", tok, put("adminLevel", "9", 0), put("ok", "1", 0))
	wantError(t, err, "InvalidLambdaFunctionOutputException", 400, `Key "adminLevel" may not be written`)
	_, err = s.update(s.user, "settings", tok, put("score", "lots", 1))
	wantError(t, err, "InvalidLambdaFunctionOutputException", 400, "Scores must be whole numbers.")
	after := s.list(t, s.user, "settings")
	if *after.DatasetSyncCount != before || values(after.Records)["ok"] != "" {
		t.Fatalf("a rejected sync changed the dataset: sync count %d -> %d", before, *after.DatasetSyncCount)
	}

	// require reads "profile" through the sync API.
	ptok := *s.list(t, s.user, "purchases").SyncSessionToken
	_, err = s.update(s.user, "purchases", ptok, put("sku-1", "1", 0))
	wantError(t, err, "InvalidLambdaFunctionOutputException", 400, "Verify your e-mail address before buying.")
	prof := *s.list(t, s.user, "profile").SyncSessionToken
	if _, err := s.update(s.user, "profile", prof, put("verified", "true", 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.update(s.user, "purchases", ptok, put("sku-1", "1", 0)); err != nil {
		t.Fatalf("purchase after verification: %v", err)
	}

	// Developer credentials skip the trigger: a denied key is stored as is.
	dtok := *s.list(t, s.dev, "settings").SyncSessionToken
	up, err = s.update(s.dev, "settings", dtok, put("adminLevel", " 9 ", 0))
	if err != nil {
		t.Fatalf("developer UpdateRecords: %v", err)
	}
	if got := values(up.Records); len(got) != 1 || got["adminLevel"] != " 9 " {
		t.Fatalf("developer write response %v", got)
	}
}

// TestRIE_Failures: a crash, a timeout and bad output each yield their AWS
// error and store nothing.
func TestRIE_Failures(t *testing.T) {
	cases := []struct {
		fault, code string
		status      int
		msg         string
	}{
		{"panic", "InvalidLambdaFunctionOutputException", 400, "the function may have crashed"},
		{"sleep:7s", "LambdaSocketTimeoutException", 500, "did not answer in time"},
		{"bad-output", "InvalidLambdaFunctionOutputException", 400, "not a Cognito event"},
	}
	for _, c := range cases {
		t.Run(c.fault, func(t *testing.T) { // not parallel: aws-sdk-go v1's NewSession races with running clients
			s := newStack(t, operatorRules, c.fault)
			tok := *s.list(t, s.user, "settings").SyncSessionToken
			start := time.Now()
			_, err := s.update(s.user, "settings", tok, put("k", "v", 0))
			wantError(t, err, c.code, c.status, c.msg)
			if d := time.Since(start); d > 6500*time.Millisecond {
				t.Fatalf("answered after %s; the trigger limit is 5 s", d)
			}
			if out := s.list(t, s.user, "settings"); *out.DatasetExists || len(out.Records) != 0 {
				t.Fatalf("a failed sync stored %v", out.Records)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// BenchmarkUpdateRecords measures UpdateRecords through aws-sdk-go v1 with
// identity credentials, without a SyncTrigger and with cmd/lambda in the
// emulator (operatorRules), and reports p50 and p99 latencies.
func BenchmarkUpdateRecords(b *testing.B) {
	for _, mode := range []string{"NoTrigger", "RIETrigger"} {
		b.Run(mode, func(b *testing.B) {
			s := newStack(b, operatorRules, "")
			if mode == "NoTrigger" {
				_, err := s.dev.SetCognitoEvents(&cognitosync.SetCognitoEventsInput{
					IdentityPoolId: aws.String(s.pool), Events: map[string]*string{"SyncTrigger": aws.String("")}})
				if err != nil {
					b.Fatal(err)
				}
			}
			tok := *s.list(b, s.user, "bench").SyncSessionToken
			count := int64(0)
			write := func(i int) time.Duration {
				start := time.Now()
				up, err := s.update(s.user, "bench", tok, put("score", fmt.Sprint(i), count))
				d := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range up.Records {
					if *r.Key == "score" {
						count = *r.SyncCount
					}
				}
				return d
			}
			for i := range 5 { // warm up: the emulator starts the function on the first invoke
				write(i)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				lat = append(lat, write(i))
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
		})
	}
}

// TestProductionBuild_HasNoFaultHook: the function as deployed (built
// without the tag synctriggerfault) holds no trace of the fault switch and,
// run in the emulator with SYNCTRIGGER_FAULT=panic, applies its rules as
// usual. The test build is the control: it does hold the switch.
func TestProductionBuild_HasNoFaultHook(t *testing.T) {
	production.Require(t)
	for bin, want := range map[string]bool{production.Bootstrap: false, rie.Bootstrap: true} {
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(b, []byte("SYNCTRIGGER_FAULT")); got != want {
			t.Errorf("%s contains SYNCTRIGGER_FAULT: %v, want %v", bin, got, want)
		}
	}
	s := newStackWith(t, production, operatorRules, "panic")
	tok := *s.list(t, s.user, "settings").SyncSessionToken
	up, err := s.update(s.user, "settings", tok, put("email", " Bob@Example.COM", 0))
	if err != nil {
		t.Fatalf("UpdateRecords through the production build with SYNCTRIGGER_FAULT=panic: %v", err)
	}
	if got := values(up.Records)["email"]; got != "bob@example.com" {
		t.Fatalf("email = %q, want the transform rule's bob@example.com", got)
	}
}
