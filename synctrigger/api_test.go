package synctrigger_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/client"
	"github.com/cognitosync/cognitosync/synctrigger"
)

// apiFixture is syncd with a pool and identity, and the syncapi client with
// developer credentials the function would use.
func apiFixture(t *testing.T) (*client.Client, string, string) {
	srv := synctest.Start(t, synctest.Options{})
	pool := synctest.PoolID()
	srv.CreatePool(t, pool)
	idn := srv.NewIdentity(t, pool)
	c := client.New(client.Options{Region: synctest.Region, BaseEndpoint: aws.String(srv.URL),
		Credentials: synctest.StaticV2(srv.DevKeyID, srv.DevSecret, "")})
	return c, pool, idn.ID
}

func read(t *testing.T, c *client.Client, pool, id, ds string) map[string]string {
	t.Helper()
	out, err := c.ListRecords(context.Background(), syncapi.ListRecordsInput{IdentityPoolID: pool, IdentityID: id, DatasetName: ds})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, r := range out.Records {
		if r.Value != nil {
			m[r.Key] = *r.Value
		}
	}
	return m
}

func write(t *testing.T, c *client.Client, pool, id, ds, key, value string) {
	t.Helper()
	ctx := context.Background()
	lr, err := c.ListRecords(ctx, syncapi.ListRecordsInput{IdentityPoolID: pool, IdentityID: id, DatasetName: ds})
	if err != nil {
		t.Fatal(err)
	}
	var sc int64
	for _, r := range lr.Records {
		if r.Key == key {
			sc = r.SyncCount
		}
	}
	_, err = c.UpdateRecords(ctx, syncapi.UpdateRecordsInput{IdentityPoolID: pool, IdentityID: id, DatasetName: ds,
		SyncSessionToken: lr.SyncSessionToken, RecordPatches: []syncapi.RecordPatch{{Op: syncapi.OpReplace, Key: key, Value: &value, SyncCount: sc}}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRequireRule(t *testing.T) {
	c, pool, id := apiFixture(t)
	rs := synctrigger.New(nil, synctrigger.RequireRule{Scope: synctrigger.Scope{Datasets: []string{"settings"}},
		API: c, Dataset: "profile", Key: "verified", Message: "verify first"})
	e := ev(nil, map[string]*string{"k": sp("1")})
	e.IdentityPoolID, e.IdentityID = pool, id
	if _, err := rs.Handle(context.Background(), e); err == nil || err.Error() != "verify first" {
		t.Fatalf("without profile.verified: %v", err)
	}
	write(t, c, pool, id, "profile", "verified", "yes")
	if _, err := rs.Handle(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	// Nothing changed: the other dataset is not read.
	calm := ev(map[string]string{"k": "1"}, nil)
	calm.IdentityPoolID, calm.IdentityID = pool, "us-east-1:00000000-0000-0000-0000-000000000000"
	if _, err := rs.Handle(context.Background(), calm); err != nil {
		t.Fatal(err)
	}
}

func TestAuditAndSummaryRules(t *testing.T) {
	c, pool, id := apiFixture(t)
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	rs := synctrigger.New(nil,
		synctrigger.AuditRule{API: c, Target: "audit", Now: now, ValueRunes: 4},
		synctrigger.SummaryRule{API: c, Target: "summary", Now: now})
	e := ev(map[string]string{"old": "x", "keep": "k"}, map[string]*string{"name": sp("alice"), "old": nil})
	e.IdentityPoolID, e.IdentityID = pool, id
	for range 2 { // the second run overwrites (SyncCounts tracked)
		if _, err := rs.Handle(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	audit := read(t, c, pool, id, "audit")
	var name, old map[string]any
	json.Unmarshal([]byte(audit["settings/name"]), &name)
	json.Unmarshal([]byte(audit["settings/old"]), &old)
	if name["op"] != "replace" || name["value"] != "alic" || name["truncated"] != true || old["op"] != "remove" || old["previous"] != "x" {
		t.Fatalf("audit %v", audit)
	}
	if _, ok := audit["settings/keep"]; ok {
		t.Fatal("an untouched record was audited")
	}
	if got := read(t, c, pool, id, "summary")["settings"]; got != `{"bytes":14,"records":2,"updatedAt":"2026-01-01T00:00:00Z"}` {
		t.Fatalf("summary %s", got)
	}
	// The guard: events on the targets write nothing more.
	e.DatasetName = "audit"
	if _, err := rs.Handle(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if a := read(t, c, pool, id, "audit"); len(a) != 2 {
		t.Fatalf("audit after an audit-dataset event: %v", a)
	}
}

// TestCognitoEventJSON: TriggerEvent and aws-lambda-go's events.CognitoEvent
// read each other's JSON; the conversions keep nulls where they can.
func TestCognitoEventJSON(t *testing.T) {
	doc := `{"version":2,"eventType":"SyncTrigger","region":"us-east-1","identityPoolId":"p","identityId":"i","datasetName":"settings",
	  "datasetRecords":{"highScore":{"oldValue":"100","newValue":"120","op":"replace"},"oldKey":{"oldValue":"x","newValue":null,"op":"remove"},"new":{"oldValue":null,"newValue":"n","op":"replace"}}}`
	var ce events.CognitoEvent
	var te synctrigger.Event
	if err := json.Unmarshal([]byte(doc), &ce); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(doc), &te); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(synctrigger.FromCognitoEvent(ce), te) {
		t.Fatalf("FromCognitoEvent = %+v, want %+v", synctrigger.FromCognitoEvent(ce), te)
	}
	if !reflect.DeepEqual(synctrigger.ToCognitoEvent(te), ce) {
		t.Fatalf("ToCognitoEvent = %+v, want %+v", synctrigger.ToCognitoEvent(te), ce)
	}
	b, _ := json.Marshal(te)
	if !strings.Contains(string(b), `"newValue":null`) {
		t.Fatalf("null lost: %s", b)
	}
	var back events.CognitoEvent
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, ce) {
		t.Fatalf("events.CognitoEvent from TriggerEvent JSON = %+v, %v", back, err)
	}
}
