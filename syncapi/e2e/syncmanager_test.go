package e2e_test

import (
	"testing"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/synctest"
)

// device is a local replica of one dataset, synchronised the way the
// Android/JS Sync Managers do it (spec H.1, H.2): ListRecords from the last
// sync count with maxResults=1024 following NextToken, then UpdateRecords of
// the local changes with their last known SyncCount.
type device struct {
	t      *testing.T
	c      *cognitosync.CognitoSync
	pool   string
	id, ds string
	last   int64              // L: local last sync count
	values map[string]*string // local copy; nil value = deleted
	counts map[string]int64   // local record sync counts
	dirty  map[string]*string // local modifications not yet pushed
	onConf func(key string, local, remote *string) *string
}

func newDevice(t *testing.T, c *cognitosync.CognitoSync, pool, id, ds string) *device {
	return &device{t: t, c: c, pool: pool, id: id, ds: ds, values: map[string]*string{}, counts: map[string]int64{}, dirty: map[string]*string{}}
}

func (d *device) put(k, v string) { d.dirty[k] = aws.String(v) }
func (d *device) del(k string)    { d.dirty[k] = nil }

// pull lists remote changes since L; it returns the session token, the
// number of remote records and whether the dataset was deleted remotely.
func (d *device) pull() (token string, n int, deleted bool) {
	d.t.Helper()
	in := &cognitosync.ListRecordsInput{IdentityPoolId: aws.String(d.pool), IdentityId: aws.String(d.id),
		DatasetName: aws.String(d.ds), LastSyncCount: aws.Int64(d.last), MaxResults: aws.Int64(1024)}
	var out *cognitosync.ListRecordsOutput
	var recs []*cognitosync.Record
	for {
		var err error
		out, err = d.c.ListRecords(in)
		if err != nil {
			d.t.Fatalf("ListRecords: %v", err)
		}
		recs = append(recs, out.Records...)
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	if (d.last != 0 && !*out.DatasetExists) || *out.DatasetDeletedAfterRequestedSyncCount {
		d.values, d.counts, d.last = map[string]*string{}, map[string]int64{}, 0
		return *out.SyncSessionToken, len(recs), true
	}
	for _, r := range recs {
		k := *r.Key
		if local, mine := d.dirty[k]; mine && d.counts[k] != *r.SyncCount && aws.StringValue(local) != aws.StringValue(r.Value) {
			d.dirty[k] = d.onConf(k, local, r.Value) // resolved value stays dirty
		}
		d.values[k], d.counts[k] = r.Value, *r.SyncCount
	}
	if len(recs) > 0 {
		d.last = *out.DatasetSyncCount
	}
	return *out.SyncSessionToken, len(recs), false
}

// push sends local changes; it returns the AWS error, if any.
func (d *device) push(token string) error {
	if len(d.dirty) == 0 {
		return nil
	}
	var patches []*cognitosync.RecordPatch
	for k, v := range d.dirty {
		if v == nil {
			patches = append(patches, remove(k, d.counts[k]))
		} else {
			patches = append(patches, replace(k, *v, d.counts[k]))
		}
	}
	out, err := update(d.c, d.pool, d.id, d.ds, token, patches...)
	if err != nil {
		return err
	}
	var max int64
	for _, r := range out.Records {
		d.values[*r.Key], d.counts[*r.Key] = r.Value, *r.SyncCount
		max = maxInt(max, *r.SyncCount)
	}
	if max == d.last+1 {
		d.last = max
	}
	d.dirty = map[string]*string{}
	return nil
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// TestSyncManagerSequence replays two devices of one identity through the
// Sync Manager algorithm: first sync, a remote change, a conflict on the
// same key, its resolution, and a remote dataset deletion.
func TestSyncManagerSequence(t *testing.T) {
	srv := synctest.Start(t, synctest.Options{})
	pool := synctest.PoolID()
	srv.CreatePool(t, pool)
	idn := srv.NewIdentity(t, pool)
	c := synctest.SyncV1(t, srv.URL, idn.V1())
	a, b := newDevice(t, c, pool, idn.ID, "game"), newDevice(t, c, pool, idn.ID, "game")
	a.onConf = func(k string, local, remote *string) *string {
		return aws.String(aws.StringValue(remote) + "+" + aws.StringValue(local))
	}
	b.onConf = a.onConf

	// A syncs its first values.
	a.put("score", "10")
	a.put("name", "ann")
	tok, _, _ := a.pull()
	if err := a.push(tok); err != nil {
		t.Fatal(err)
	}
	if a.last != 1 {
		t.Fatalf("A's last sync count = %d, want 1", a.last)
	}

	// B pulls them, then changes score.
	tok, n, _ := b.pull()
	if n != 2 || *b.values["score"] != "10" || b.last != 1 {
		t.Fatalf("B pulled %d records, score %v, L %d", n, b.values["score"], b.last)
	}
	b.put("score", "20")
	if err := b.push(tok); err != nil {
		t.Fatal(err)
	}

	// A changes score too without pulling first: 409 with AWS's message.
	a.put("score", "15")
	err := a.push(tok)
	rf := wantAWSError(t, err, "ResourceConflictException", 409)
	if rf.Message() != "Current SyncCount for: score is: 2 not: 1" {
		t.Fatalf("conflict message %q", rf.Message())
	}
	// The Sync Manager re-pulls; its conflict handler merges; the push wins.
	tok, n, _ = a.pull()
	if n != 1 || *a.dirty["score"] != "20+15" {
		t.Fatalf("A re-pulled %d records, resolved %v", n, a.dirty["score"])
	}
	if err := a.push(tok); err != nil {
		t.Fatal(err)
	}
	if a.last != 3 {
		t.Fatalf("A's last sync count = %d, want 3", a.last)
	}
	// B removes name; A sees the tombstone.
	tok, _, _ = b.pull()
	b.del("name")
	if err := b.push(tok); err != nil {
		t.Fatal(err)
	}
	a.pull()
	if v, ok := a.values["name"]; !ok || v != nil {
		t.Fatalf("A did not learn name was removed: %v %v", ok, v)
	}
	if *a.values["score"] != "20+15" || a.last != 4 {
		t.Fatalf("A: score %v, L %d", *a.values["score"], a.last)
	}

	// iOS pulls once, without maxResults, and must get the whole change set.
	whole := listAll(t, c, pool, idn.ID, "game", 0)
	if len(whole.Records) != 2 || whole.NextToken != nil || *whole.DatasetSyncCount != 4 {
		t.Fatalf("iOS-style ListRecords: %d records, next %v, count %d", len(whole.Records), whole.NextToken, *whole.DatasetSyncCount)
	}

	// B deletes the dataset (L = -1 path); A learns it on its next sync.
	if _, err := c.DeleteDataset(&cognitosync.DeleteDatasetInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(idn.ID), DatasetName: aws.String("game")}); err != nil {
		t.Fatal(err)
	}
	if _, _, deleted := a.pull(); !deleted {
		t.Fatal("A was not told the dataset was deleted")
	}
}
