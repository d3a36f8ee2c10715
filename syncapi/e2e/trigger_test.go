package e2e_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
)

const triggerArn = "arn:aws:lambda:us-east-1:123456789012:function:sync-trigger"

// triggerFixture is a syncd stack whose pool has a SyncTrigger served by fn
// in process, and an identity with a SyncSessionToken for dataset "settings".
type triggerFixture struct {
	srv   *synctest.Server
	pool  string
	idn   synctest.Identity
	user  *cognitosync.CognitoSync
	dev   *cognitosync.CognitoSync
	mu    sync.Mutex
	calls []syncapi.TriggerEvent
	fn    func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error)
}

func newTriggerFixture(t *testing.T, st storeT, invoker bool) *triggerFixture {
	f := &triggerFixture{fn: func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) { return ev, nil }}
	o := synctest.Options{Store: st}
	if invoker {
		o.Trigger = syncapi.TriggerFunc(func(ctx context.Context, arn string, ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
			if arn != triggerArn {
				t.Errorf("invoked %q", arn)
			}
			// Through JSON, as a real function sees it.
			b, _ := json.Marshal(ev)
			var in syncapi.TriggerEvent
			json.Unmarshal(b, &in)
			f.mu.Lock()
			f.calls = append(f.calls, in)
			fn := f.fn
			f.mu.Unlock()
			// Like the Lambda client, give up when the invocation's
			// deadline passes, even if the function goes on.
			type result struct {
				ev  syncapi.TriggerEvent
				err error
			}
			done := make(chan result, 1)
			go func() {
				out, err := fn(in)
				done <- result{out, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-ctx.Done():
				return syncapi.TriggerEvent{}, ctx.Err()
			}
			out, err := r.ev, r.err
			if err != nil {
				return out, err
			}
			b, _ = json.Marshal(out)
			var res syncapi.TriggerEvent
			return res, json.Unmarshal(b, &res)
		})
	}
	f.srv = synctest.Start(t, o)
	f.pool = synctest.PoolID()
	f.srv.CreatePool(t, f.pool)
	f.dev = f.srv.DevSyncV1(t)
	f.idn = f.srv.NewIdentity(t, f.pool)
	f.user = synctest.SyncV1(t, f.srv.URL, f.idn.V1())
	return f
}

func (f *triggerFixture) setTrigger(t *testing.T, arn string) {
	t.Helper()
	must[*cognitosync.SetCognitoEventsOutput](t)(f.dev.SetCognitoEvents(&cognitosync.SetCognitoEventsInput{
		IdentityPoolId: aws.String(f.pool), Events: map[string]*string{"SyncTrigger": aws.String(arn)}}))
}

func (f *triggerFixture) token(t *testing.T) string {
	return *listAll(t, f.user, f.pool, f.idn.ID, "settings", 0).SyncSessionToken
}

func (f *triggerFixture) handle(fn func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error)) {
	f.mu.Lock()
	f.fn, f.calls = fn, nil
	f.mu.Unlock()
}

func (f *triggerFixture) lastCall(t *testing.T) syncapi.TriggerEvent {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		t.Fatal("the SyncTrigger was not invoked")
	}
	return f.calls[len(f.calls)-1]
}

func sp(s string) *string { return &s }

func strp(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// TestSyncTrigger_InProcess covers spec E.2-E.5 on both stores with an
// in-process function.
func TestSyncTrigger_InProcess(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(testing.TB) storeT) {
		f := newTriggerFixture(t, newStore(t), true)
		tok := f.token(t)
		// No trigger yet: stored as is, function not called.
		must[*cognitosync.UpdateRecordsOutput](t)(update(f.user, f.pool, f.idn.ID, "settings", tok,
			replace("highScore", "100", 0), replace("oldKey", "x", 0), replace("level", "3", 0)))
		if len(f.calls) != 0 {
			t.Fatal("invoked without a SyncTrigger")
		}
		f.setTrigger(t, triggerArn)

		t.Run("EventShape", func(t *testing.T) {
			f.handle(func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) { return ev, nil })
			must[*cognitosync.UpdateRecordsOutput](t)(update(f.user, f.pool, f.idn.ID, "settings", tok,
				replace("highScore", "120", 1), remove("oldKey", 1), replace("newKey", "n", 0)))
			ev := f.lastCall(t)
			if ev.Version != 2 || ev.EventType != "SyncTrigger" || ev.Region != synctest.Region ||
				ev.IdentityPoolID != f.pool || ev.IdentityID != f.idn.ID || ev.DatasetName != "settings" {
				t.Fatalf("event header %+v", ev)
			}
			want := map[string][3]string{
				"highScore": {"100", "120", "replace"},
				"oldKey":    {"x", "<null>", "remove"},
				"level":     {"3", "3", "replace"},
				"newKey":    {"<null>", "n", "replace"},
			}
			if len(ev.DatasetRecords) != len(want) {
				t.Fatalf("datasetRecords %v", ev.DatasetRecords)
			}
			for k, w := range want {
				r := ev.DatasetRecords[k]
				if got := [3]string{strp(r.OldValue), strp(r.NewValue), string(r.Op)}; got != w {
					t.Errorf("%s = %v, want %v", k, got, w)
				}
			}
		})

		t.Run("TransformAddOmitUnchanged", func(t *testing.T) {
			before := recordMap(listAll(t, f.user, f.pool, f.idn.ID, "settings", 0).Records)
			lr := listAll(t, f.user, f.pool, f.idn.ID, "settings", 0)
			counts := map[string]int64{}
			for _, r := range lr.Records {
				counts[*r.Key] = *r.SyncCount
			}
			f.handle(func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
				r := ev.DatasetRecords["name"]
				r.NewValue = sp("ALICE")
				ev.DatasetRecords["name"] = r
				delete(ev.DatasetRecords, "secret") // left out: not applied
				ev.DatasetRecords["stamp"] = syncapi.TriggerRecord{NewValue: sp("by-trigger"), Op: "replace"}
				h := ev.DatasetRecords["highScore"] // untouched by the client: rewritten
				h.NewValue = sp("999")
				ev.DatasetRecords["highScore"] = h
				return ev, nil
			})
			up := must[*cognitosync.UpdateRecordsOutput](t)(update(f.user, f.pool, f.idn.ID, "settings", tok,
				replace("name", "alice", 0), replace("secret", "s", 0)))
			got := recordMap(up.Records)
			if len(got) != 3 || strp(got["name"]) != "ALICE" || strp(got["stamp"]) != "by-trigger" || strp(got["highScore"]) != "999" {
				t.Fatalf("response records %v", up.Records)
			}
			after := listAll(t, f.user, f.pool, f.idn.ID, "settings", 0)
			stored := recordMap(after.Records)
			if strp(stored["name"]) != "ALICE" || strp(stored["stamp"]) != "by-trigger" || strp(stored["highScore"]) != "999" {
				t.Fatalf("stored %v", after.Records)
			}
			if _, ok := stored["secret"]; ok {
				t.Fatal("a key the function left out was stored")
			}
			for _, r := range after.Records { // untouched records keep their SyncCount
				if *r.Key == "level" && *r.SyncCount != counts["level"] {
					t.Fatalf("level rewritten: %d -> %d (before %v)", counts["level"], *r.SyncCount, before)
				}
			}
		})

		t.Run("Rejections", func(t *testing.T) {
			cases := []struct {
				name   string
				fn     func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error)
				code   string
				status int
			}{
				{"FunctionError", func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
					return ev, syncapi.Errorf(syncapi.ErrLambdaOutput, "nope")
				}, "InvalidLambdaFunctionOutputException", 400},
				{"PlainError", func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
					return ev, context.Canceled
				}, "InvalidLambdaFunctionOutputException", 400},
				{"ReadOnlyIdentity", func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
					ev.IdentityID = "us-east-1:00000000-0000-0000-0000-000000000000"
					return ev, nil
				}, "InvalidLambdaFunctionOutputException", 400},
				{"ReadOnlyVersion", func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
					ev.Version = 1
					return ev, nil
				}, "InvalidLambdaFunctionOutputException", 400},
				{"BadOp", func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
					ev.DatasetRecords["x"] = syncapi.TriggerRecord{NewValue: sp("1"), Op: "upsert"}
					return ev, nil
				}, "InvalidLambdaFunctionOutputException", 400},
				{"NULInAValue", func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
					ev.DatasetRecords["x"] = syncapi.TriggerRecord{NewValue: sp("a\x00b"), Op: "replace"}
					return ev, nil
				}, "InvalidLambdaFunctionOutputException", 400},
				{"Throttled", func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
					return ev, syncapi.Errorf(syncapi.ErrLambdaThrottled, "slow down")
				}, "LambdaThrottledException", 429},
				{"Timeout", func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
					return ev, syncapi.Errorf(syncapi.ErrLambdaTimeout, "too slow")
				}, "LambdaSocketTimeoutException", 500},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					before := *listAll(t, f.user, f.pool, f.idn.ID, "settings", 0).DatasetSyncCount
					f.handle(c.fn)
					_, err := update(f.user, f.pool, f.idn.ID, "settings", tok, replace("rejected", "v", 0))
					wantAWSError(t, err, c.code, c.status)
					if after := *listAll(t, f.user, f.pool, f.idn.ID, "settings", 0).DatasetSyncCount; after != before {
						t.Fatalf("DatasetSyncCount %d -> %d after a rejected sync", before, after)
					}
				})
			}
		})

		t.Run("ConflictBeforeInvoke", func(t *testing.T) {
			f.handle(func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) { return ev, nil })
			_, err := update(f.user, f.pool, f.idn.ID, "settings", tok, replace("name", "stale", 0))
			wantAWSError(t, err, "ResourceConflictException", 409)
			if len(f.calls) != 0 {
				t.Fatal("a stale request reached the function")
			}
		})

		t.Run("EverythingLeftOut", func(t *testing.T) {
			f.handle(func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
				ev.DatasetRecords = nil
				return ev, nil
			})
			up := must[*cognitosync.UpdateRecordsOutput](t)(update(f.user, f.pool, f.idn.ID, "settings", tok, replace("dropped", "v", 0)))
			if up.Records == nil || len(up.Records) != 0 {
				t.Fatalf("Records = %v", up.Records)
			}
		})

		t.Run("DeveloperSkips", func(t *testing.T) {
			f.handle(func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
				return ev, syncapi.Errorf(syncapi.ErrLambdaOutput, "must not run")
			})
			lr := listAll(t, f.dev, f.pool, f.idn.ID, "settings", 0)
			must[*cognitosync.UpdateRecordsOutput](t)(update(f.dev, f.pool, f.idn.ID, "settings", *lr.SyncSessionToken, replace("devKey", "d", 0)))
			if len(f.calls) != 0 {
				t.Fatal("a developer write invoked the SyncTrigger")
			}
		})
	})
}

// TestSyncTrigger_NoInvokerFailsClosed: a pool with a SyncTrigger on a
// server without an invoker refuses identity writes.
func TestSyncTrigger_NoInvokerFailsClosed(t *testing.T) {
	f := newTriggerFixture(t, synctest.SQLite(t), false)
	f.setTrigger(t, triggerArn)
	_, err := update(f.user, f.pool, f.idn.ID, "settings", f.token(t), replace("k", "v", 0))
	rf := wantAWSError(t, err, "InvalidLambdaFunctionOutputException", 400)
	if rf.Message() == "" {
		t.Fatal("no message")
	}
	// Removing the trigger takes effect at once (the events cache is
	// forgotten by SetCognitoEvents).
	f.setTrigger(t, "")
	must[*cognitosync.UpdateRecordsOutput](t)(update(f.user, f.pool, f.idn.ID, "settings", f.token(t), replace("k", "v", 0)))
}

// TestSyncTrigger_Deadline: a function slower than 5 s yields
// LambdaSocketTimeoutException and stores nothing.
func TestSyncTrigger_Deadline(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 5 s")
	}
	f := newTriggerFixture(t, synctest.SQLite(t), true)
	f.setTrigger(t, triggerArn)
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	f.handle(func(ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
		<-hang // a function that never answers in time
		return ev, nil
	})
	start := time.Now()
	_, err := update(f.user, f.pool, f.idn.ID, "settings", f.token(t), replace("k", "v", 0))
	wantAWSError(t, err, "LambdaSocketTimeoutException", 500)
	if d := time.Since(start); d > syncapi.TriggerTimeout+2*time.Second {
		t.Fatalf("took %s", d)
	}
	if recs := listAll(t, f.user, f.pool, f.idn.ID, "settings", 0).Records; len(recs) != 0 {
		t.Fatalf("the timed-out sync stored %d records", len(recs))
	}
}
