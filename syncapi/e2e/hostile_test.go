package e2e_test

// Hostile clients against the storage side (issue 14): every test drives
// syncd over real HTTP with the official aws-sdk-go v1 Cognito Sync client,
// on SQLite and PostgreSQL.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/aws/client"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/request"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

// hostileLimits are small limits, so that flooding them is quick.
var hostileLimits = syncapi.Limits{MaxDatasets: 20, MaxRecords: 16, MaxDatasetBytes: 4000}

// TestUpdateRecords_HostileRemovesCannotGrowADataset replays the attack of
// the report (UpdateRecords of hundreds of removals of keys that never
// existed) and then keys that come and go: what the dataset holds, and what
// one ListRecords without maxResults answers, stays within twice its limits.
func TestUpdateRecords_HostileRemovesCannotGrowADataset(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(testing.TB) storeT) {
		srv := synctest.Start(t, synctest.Options{Store: newStore(t), Limits: hostileLimits})
		pool := synctest.PoolID()
		srv.CreatePool(t, pool)
		idn := srv.NewIdentity(t, pool)
		c := synctest.SyncV1(t, srv.URL, idn.V1())
		token := *listAll(t, c, pool, idn.ID, "ds", 0).SyncSessionToken

		for round := range 10 {
			patches := make([]*cognitosync.RecordPatch, 700)
			for i := range patches {
				patches[i] = remove(fmt.Sprintf("ghost-%d-%04d-%s", round, i, strings.Repeat("g", 60)), 0)
			}
			out, err := update(c, pool, idn.ID, "ds", token, patches...)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			for _, r := range out.Records {
				if r.Value != nil || *r.SyncCount != 0 {
					t.Fatalf("round %d: a removal of a key that never existed answered %v, want no value at SyncCount 0", round, r)
				}
			}
		}
		dd := must[*cognitosync.DescribeDatasetOutput](t)(c.DescribeDataset(&cognitosync.DescribeDatasetInput{
			IdentityPoolId: aws.String(pool), IdentityId: aws.String(idn.ID), DatasetName: aws.String("ds")}))
		lr := listAll(t, c, pool, idn.ID, "ds", 0)
		if *dd.Dataset.NumRecords != 0 || *dd.Dataset.DataStorage != 0 || len(lr.Records) != 0 || *lr.DatasetSyncCount != 10 {
			t.Fatalf("after 7,000 removals: %v; ListRecords returned %d records at SyncCount %d, want none at 10",
				dd.Dataset, len(lr.Records), *lr.DatasetSyncCount)
		}

		// Keys that come and go: each round writes a full dataset of new
		// keys and removes it.
		count := int64(10)
		for round := range 12 {
			puts := make([]*cognitosync.RecordPatch, hostileLimits.MaxRecords)
			for i := range puts {
				puts[i] = replace(fmt.Sprintf("r%02d-%02d-%s", round, i, strings.Repeat("k", 100)), "v", 0)
			}
			if _, err := update(c, pool, idn.ID, "ds", token, puts...); err != nil {
				t.Fatalf("round %d puts: %v", round, err)
			}
			count++
			dels := make([]*cognitosync.RecordPatch, len(puts))
			for i, p := range puts {
				dels[i] = remove(*p.Key, count)
			}
			if _, err := update(c, pool, idn.ID, "ds", token, dels...); err != nil {
				t.Fatalf("round %d removals: %v", round, err)
			}
			count++
			lr := listAll(t, c, pool, idn.ID, "ds", 0)
			var keyBytes int64
			for _, r := range lr.Records {
				keyBytes += int64(len(*r.Key))
			}
			if int64(len(lr.Records)) > hostileLimits.MaxRecords || keyBytes > hostileLimits.MaxDatasetBytes || lr.NextToken != nil {
				t.Fatalf("round %d: ListRecords holds %d tombstones with %d key bytes (next page %v); want at most %d and %d bytes, one page",
					round, len(lr.Records), keyBytes, lr.NextToken != nil, hostileLimits.MaxRecords, hostileLimits.MaxDatasetBytes)
			}
		}
	})
}

// TestListRecords_DeviceBehindPurgedTombstonesRefreshes: a device that last
// synced before tombstones it never saw were purged is told, as after a
// deletion, to refresh the whole dataset; a device that saw them is not.
func TestListRecords_DeviceBehindPurgedTombstonesRefreshes(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(testing.TB) storeT) {
		lim := syncapi.Limits{MaxDatasets: 20, MaxRecords: 2, MaxDatasetBytes: 1000}
		srv := synctest.Start(t, synctest.Options{Store: newStore(t), Limits: lim})
		pool := synctest.PoolID()
		srv.CreatePool(t, pool)
		idn := srv.NewIdentity(t, pool)
		c := synctest.SyncV1(t, srv.URL, idn.V1())
		token := *listAll(t, c, pool, idn.ID, "ds", 0).SyncSessionToken
		mustUpdate := func(p ...*cognitosync.RecordPatch) {
			t.Helper()
			if _, err := update(c, pool, idn.ID, "ds", token, p...); err != nil {
				t.Fatal(err)
			}
		}
		mustUpdate(replace("keep", "v", 0), replace("a", "v", 0)) // 1
		mustUpdate(remove("a", 1))                                // 2: a tombstone
		mustUpdate(replace("b", "v", 0))                          // 3
		mustUpdate(remove("b", 3))                                // 4
		mustUpdate(replace("c", "v", 0))                          // 5
		mustUpdate(remove("c", 5))                                // 6: a's tombstone is purged

		behind := listAll(t, c, pool, idn.ID, "ds", 1) // synced at 1: never saw a removed
		if !*behind.DatasetDeletedAfterRequestedSyncCount || *behind.DatasetSyncCount != 6 || recordMap(behind.Records)["keep"] == nil {
			t.Fatalf("device at 1: deleted flag %v, count %d, records %v; want a refresh of every current record",
				*behind.DatasetDeletedAfterRequestedSyncCount, *behind.DatasetSyncCount, behind.Records)
		}
		upToDate := listAll(t, c, pool, idn.ID, "ds", 2) // saw a's removal
		if *upToDate.DatasetDeletedAfterRequestedSyncCount || len(upToDate.Records) != 2 {
			t.Fatalf("device at 2: deleted flag %v, records %v; want b and c's tombstones only",
				*upToDate.DatasetDeletedAfterRequestedSyncCount, upToDate.Records)
		}
		// That device writes a again with the count it kept (Android does).
		if _, err := update(c, pool, idn.ID, "ds", token, replace("a", "back", 2)); err != nil {
			t.Fatalf("re-writing a purged key with its last count: %v", err)
		}
	})
}

// TestListRecords_PageBudget: without maxResults (iOS) every legal dataset,
// live records and tombstones, comes in one page; a dataset beyond the
// limits (written while they were higher) is cut into pages, and a client
// reading one page at a time from the DatasetSyncCount it got loses
// nothing.
func TestListRecords_PageBudget(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(testing.TB) storeT) {
		store := newStore(t)
		lim := syncapi.Limits{MaxDatasets: 20, MaxRecords: 4, MaxDatasetBytes: 1000}
		small := synctest.Start(t, synctest.Options{Store: store, Limits: lim})
		large := synctest.Start(t, synctest.Options{Store: store}) // AWS's limits, same data
		pool := synctest.PoolID()
		small.CreatePool(t, pool)
		idn := small.NewIdentity(t, pool)
		c := synctest.SyncV1(t, small.URL, idn.V1())
		token := *listAll(t, c, pool, idn.ID, "legal", 0).SyncSessionToken

		// The largest legal dataset: 4 tombstones and 4 live records of
		// 250 bytes each, keys of 240 bytes.
		key := func(i int) string { return fmt.Sprintf("%02d%s", i, strings.Repeat("k", 238)) }
		for i := range 4 {
			must[*cognitosync.UpdateRecordsOutput](t)(update(c, pool, idn.ID, "legal", token, replace(key(i), "v", 0)))
			must[*cognitosync.UpdateRecordsOutput](t)(update(c, pool, idn.ID, "legal", token, remove(key(i), int64(2*i+1))))
		}
		var puts []*cognitosync.RecordPatch
		for i := 4; i < 8; i++ {
			puts = append(puts, replace(key(i)[:240], strings.Repeat("v", 10), 0))
		}
		must[*cognitosync.UpdateRecordsOutput](t)(update(c, pool, idn.ID, "legal", token, puts...))
		lr := listAll(t, c, pool, idn.ID, "legal", 0)
		if len(lr.Records) != 8 || lr.NextToken != nil || *lr.DatasetSyncCount != 9 {
			t.Fatalf("the largest legal dataset: %d records, next %v, count %d; want all 8 on one page at 9",
				len(lr.Records), lr.NextToken != nil, *lr.DatasetSyncCount)
		}

		// Beyond the limits: 40 records of 1000 bytes written through the
		// server with AWS's limits, one UpdateRecords each.
		dev := large.DevSyncV1(t)
		dtoken := *listAll(t, dev, pool, idn.ID, "big", 0).SyncSessionToken
		for i := range 40 {
			must[*cognitosync.UpdateRecordsOutput](t)(update(dev, pool, idn.ID, "big", dtoken, replace(fmt.Sprintf("k%02d", i), strings.Repeat("x", 1000), 0)))
		}
		seen := map[string]bool{}
		last, pages := int64(0), 0
		for pages < 100 { // iOS: one page per sync, from the count it got
			lr := listAll(t, c, pool, idn.ID, "big", last)
			if len(lr.Records) == 0 {
				break
			}
			pages++
			for _, r := range lr.Records {
				seen[*r.Key] = true
			}
			if *lr.DatasetSyncCount <= last {
				t.Fatalf("page %d from %d reports DatasetSyncCount %d: no progress", pages, last, *lr.DatasetSyncCount)
			}
			last = *lr.DatasetSyncCount
		}
		if len(seen) != 40 || last != 40 || pages < 2 {
			t.Fatalf("one page per sync saw %d of 40 records in %d pages, ending at %d", len(seen), pages, last)
		}
		// Android and JS page with maxResults and NextToken: the last page
		// reports the snapshot.
		var all []string
		var next *string
		for {
			out := must[*cognitosync.ListRecordsOutput](t)(c.ListRecords(&cognitosync.ListRecordsInput{
				IdentityPoolId: aws.String(pool), IdentityId: aws.String(idn.ID), DatasetName: aws.String("big"),
				LastSyncCount: aws.Int64(0), MaxResults: aws.Int64(1024), NextToken: next,
			}))
			for _, r := range out.Records {
				all = append(all, *r.Key)
			}
			if next = out.NextToken; next == nil {
				if *out.DatasetSyncCount != 40 {
					t.Fatalf("last page reports %d, want the snapshot 40", *out.DatasetSyncCount)
				}
				break
			}
		}
		if len(all) != 40 {
			t.Fatalf("paging with NextToken gave %d records, want 40", len(all))
		}
	})
}

// TestListRecords_NextTokenBoundToItsDataset: a nextToken minted for one
// (pool, identity, dataset) is refused on any other.
func TestListRecords_NextTokenBoundToItsDataset(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(testing.TB) storeT) {
		srv := synctest.Start(t, synctest.Options{Store: newStore(t)})
		pool, pool2 := synctest.PoolID(), synctest.PoolID()
		srv.CreatePool(t, pool)
		srv.CreatePool(t, pool2)
		a, b := srv.NewIdentity(t, pool), srv.NewIdentity(t, pool)
		ca, cb, dev := synctest.SyncV1(t, srv.URL, a.V1()), synctest.SyncV1(t, srv.URL, b.V1()), srv.DevSyncV1(t)
		for _, w := range []struct {
			c  *cognitosync.CognitoSync
			id string
			ds string
		}{{ca, a.ID, "one"}, {ca, a.ID, "two"}, {cb, b.ID, "one"}} {
			token := *listAll(t, w.c, pool, w.id, w.ds, 0).SyncSessionToken
			var ps []*cognitosync.RecordPatch
			for i := range 5 {
				ps = append(ps, replace(fmt.Sprintf("k%d", i), "v", 0))
			}
			must[*cognitosync.UpdateRecordsOutput](t)(update(w.c, pool, w.id, w.ds, token, ps...))
		}
		first := must[*cognitosync.ListRecordsOutput](t)(ca.ListRecords(&cognitosync.ListRecordsInput{
			IdentityPoolId: aws.String(pool), IdentityId: aws.String(a.ID), DatasetName: aws.String("one"), MaxResults: aws.Int64(2)}))
		if first.NextToken == nil {
			t.Fatal("no NextToken")
		}
		tok := first.NextToken
		list := func(c *cognitosync.CognitoSync, pool, id, ds string) error {
			_, err := c.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(id),
				DatasetName: aws.String(ds), MaxResults: aws.Int64(2), NextToken: tok})
			return err
		}
		if err := list(ca, pool, a.ID, "one"); err != nil {
			t.Fatalf("the token on its own dataset: %v", err)
		}
		for name, err := range map[string]error{
			"another dataset":                    list(ca, pool, a.ID, "two"),
			"another identity":                   list(cb, pool, b.ID, "one"),
			"another identity, developer":        list(dev, pool, b.ID, "one"),
			"another pool, developer":            list(dev, pool2, a.ID, "one"),
			"same dataset name, other dataset 2": list(dev, pool, a.ID, "two"),
		} {
			if err == nil {
				t.Errorf("%s: the token was accepted", name)
				continue
			}
			var rf awserr.RequestFailure
			if !errors.As(err, &rf) || rf.Code() != "InvalidParameterException" || rf.StatusCode() != 400 {
				t.Errorf("%s: %v, want InvalidParameterException 400", name, err)
			}
		}
	})
}

// TestText_RefusedAlikeOnEveryStore: a NUL character, or a key PostgreSQL's
// indexes cannot hold, is an InvalidParameterException (400, not retried)
// on both stores, and changes nothing; PostgreSQL used to answer 500.
func TestText_RefusedAlikeOnEveryStore(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(testing.TB) storeT) {
		srv := synctest.Start(t, synctest.Options{Store: newStore(t)})
		pool := synctest.PoolID()
		srv.CreatePool(t, pool)
		idn := srv.NewIdentity(t, pool)
		c := synctest.SyncV1(t, srv.URL, idn.V1())
		token := *listAll(t, c, pool, idn.ID, "ds", 0).SyncSessionToken
		must[*cognitosync.UpdateRecordsOutput](t)(update(c, pool, idn.ID, "ds", token, replace("a", "1", 0)))
		// With the SDK's default retries: a 5xx would be sent 4 times.
		c.Retryer = client.DefaultRetryer{NumMaxRetries: client.DefaultRetryerMaxNumRetries, MinRetryDelay: time.Millisecond,
			MaxRetryDelay: time.Millisecond, MinThrottleDelay: time.Millisecond, MaxThrottleDelay: time.Millisecond}
		c.Config.MaxRetries = aws.Int(client.DefaultRetryerMaxNumRetries)
		var attempts atomic.Int64
		c.Handlers.Send.PushFront(func(*request.Request) { attempts.Add(1) })
		for name, p := range map[string]*cognitosync.RecordPatch{
			"NUL in a key":            replace("a\x00b", "v", 0),
			"NUL in a value":          replace("a", "v\x00", 1),
			"NUL in a removed key":    remove("\x00", 0),
			"a key of 4096 bytes":     replace(strings.Repeat("😀", 1024), "v", 0),
			"a key of 2049 bytes":     replace("x"+strings.Repeat("é", 1024), "v", 0),
			"NUL after valid changes": replace("z\x00", "", 0),
		} {
			attempts.Store(0)
			_, err := update(c, pool, idn.ID, "ds", token, replace("fine", "v", 0), p)
			wantAWSError(t, err, "InvalidParameterException", 400)
			if n := attempts.Load(); n != 1 {
				t.Errorf("%s: sent %d times, want once (a 400 is not retried)", name, n)
			}
		}
		lr := listAll(t, c, pool, idn.ID, "ds", 0)
		if len(lr.Records) != 1 || *lr.DatasetSyncCount != 1 {
			t.Fatalf("refused updates changed the dataset: %v", lr)
		}
		// The longest key the stores take round-trips.
		long := strings.Repeat("é", 1024) // 1024 characters, 2048 bytes
		must[*cognitosync.UpdateRecordsOutput](t)(update(c, pool, idn.ID, "ds", token, replace(long, "v", 0)))
		if got := recordMap(listAll(t, c, pool, idn.ID, "ds", 1).Records); got[long] == nil {
			t.Fatal("a key of 2048 bytes did not round-trip")
		}
	})
}

// TestDeleteIdentityPool_RevokesAtOnce: two syncd stacks on one store (as
// two replicas); B has the identity's credentials cached. Once A deleted the
// pool, B refuses them at once, writes racing the deletion leave nothing
// behind, and a pool created again with the same id starts empty, with the
// old credentials still refused.
func TestDeleteIdentityPool_RevokesAtOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(testing.TB) storeT) {
		store := newStore(t)
		a := synctest.Start(t, synctest.Options{Store: store})
		b := synctest.Start(t, synctest.Options{Store: store})
		pool := synctest.PoolID()
		a.CreatePool(t, pool)
		idn := a.NewIdentity(t, pool)
		cb := synctest.SyncV1(t, b.URL, idn.V1())
		token := *listAll(t, cb, pool, idn.ID, "ds", 0).SyncSessionToken
		must[*cognitosync.UpdateRecordsOutput](t)(update(cb, pool, idn.ID, "ds", token, replace("k", "v", 0))) // B caches the credentials

		// Writers keep writing new records through B while A deletes.
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var acked atomic.Int64
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := update(cb, pool, idn.ID, "ds", token, replace(fmt.Sprintf("w%d-%d", w, i), "v", 0)); err == nil {
						acked.Add(1)
					}
				}
			})
		}
		for deadline := time.Now().Add(10 * time.Second); acked.Load() < 4; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				close(stop)
				t.Fatalf("writers through B got %d acknowledgements in 10s", acked.Load())
			}
		}
		ctx := context.Background()
		if _, err := a.IdentityV2().DeleteIdentityPool(ctx, &cognitoidentity.DeleteIdentityPoolInput{IdentityPoolId: aws.String(pool)}); err != nil {
			t.Fatal(err)
		}
		_, err := update(cb, pool, idn.ID, "ds", token, replace("after", "v", 0))
		revoked := wantAWSError(t, err, "UnrecognizedClientException", 403)
		// The same answer as a key the store never had: a client cannot
		// tell a revoked credential from an unknown one.
		unknown := synctest.SyncV1(t, b.URL, credentials.NewStaticCredentials("ASIAUNKNOWNKEY000000", "secret", "token"))
		_, err = unknown.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(idn.ID), DatasetName: aws.String("ds")})
		if u := wantAWSError(t, err, "UnrecognizedClientException", 403); u.Message() != revoked.Message() {
			t.Errorf("revoked: %q; unknown key: %q", revoked.Message(), u.Message())
		}
		_, err = cb.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(idn.ID), DatasetName: aws.String("ds")})
		wantAWSError(t, err, "UnrecognizedClientException", 403)
		close(stop)
		wg.Wait()

		a.CreatePool(t, pool) // as --pool does at start-up
		_, err = update(cb, pool, idn.ID, "ds", token, replace("again", "v", 0))
		wantAWSError(t, err, "UnrecognizedClientException", 403)
		_, err = cb.ListDatasets(&cognitosync.ListDatasetsInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(idn.ID)})
		wantAWSError(t, err, "UnrecognizedClientException", 403)
		dev := a.DevSyncV1(t)
		ld := must[*cognitosync.ListDatasetsOutput](t)(dev.ListDatasets(&cognitosync.ListDatasetsInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(idn.ID)}))
		usage := must[*cognitosync.DescribeIdentityPoolUsageOutput](t)(dev.DescribeIdentityPoolUsage(&cognitosync.DescribeIdentityPoolUsageInput{IdentityPoolId: aws.String(pool)}))
		if len(ld.Datasets) != 0 || *usage.IdentityPoolUsage.DataStorage != 0 {
			t.Fatalf("the re-created pool holds data of the deleted one: %d datasets (%d writes were acknowledged), %d bytes",
				len(ld.Datasets), acked.Load(), *usage.IdentityPoolUsage.DataStorage)
		}
	})
}

// TestStoreFault_DiskFullIsRetryable: a store that cannot commit (a SQLite
// database at its size cap fails exactly as on a full disk, SQLITE_FULL)
// answers ServiceUnavailableException 503, which the SDK retries, changes
// nothing, reports unhealthy, and recovers without a restart once there is
// room again.
func TestStoreFault_DiskFullIsRetryable(t *testing.T) {
	store, err := sqlstore.Open(context.Background(), sqlstore.Config{URL: filepath.Join(t.TempDir(), "syncd.db"), MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv := synctest.Start(t, synctest.Options{Store: store})
	pool := synctest.PoolID()
	srv.CreatePool(t, pool)
	idn := srv.NewIdentity(t, pool)
	c := synctest.SyncV1(t, srv.URL, idn.V1())
	c.Retryer = client.DefaultRetryer{NumMaxRetries: client.DefaultRetryerMaxNumRetries, MinRetryDelay: time.Millisecond,
		MaxRetryDelay: time.Millisecond, MinThrottleDelay: time.Millisecond, MaxThrottleDelay: time.Millisecond}
	c.Config.MaxRetries = aws.Int(client.DefaultRetryerMaxNumRetries)
	var attempts atomic.Int64
	c.Handlers.Send.PushFront(func(*request.Request) { attempts.Add(1) })
	if err := store.CheckHealth(context.Background()); err != nil {
		t.Fatalf("healthy store: %v", err)
	}

	value := strings.Repeat("x", 100_000)
	var full error
	written := 0
	for ds := 0; ds < 20 && full == nil; ds++ {
		name := fmt.Sprintf("d%02d", ds)
		token := *listAll(t, c, pool, idn.ID, name, 0).SyncSessionToken
		for i := 0; i < 8; i++ {
			attempts.Store(0)
			if _, err := update(c, pool, idn.ID, name, token, replace(fmt.Sprintf("k%d", i), value, 0)); err != nil {
				full = err
				break
			}
			written++
		}
	}
	if full == nil {
		t.Fatalf("%d writes of 100 kB fit in a 1 MiB database", written)
	}
	wantAWSError(t, full, "ServiceUnavailableException", 503)
	if n := attempts.Load(); n != 1+client.DefaultRetryerMaxNumRetries {
		t.Errorf("the SDK sent the failing write %d times, want %d (retried)", n, 1+client.DefaultRetryerMaxNumRetries)
	}
	if err := store.CheckHealth(context.Background()); !errors.Is(err, syncapi.ErrUnavailable) {
		t.Fatalf("CheckHealth of a full store = %v, want ErrUnavailable", err)
	}

	// Room again: delete a dataset (its pages go to the free list).
	if _, err := c.DeleteDataset(&cognitosync.DeleteDatasetInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(idn.ID), DatasetName: aws.String("d00")}); err != nil {
		t.Fatalf("DeleteDataset on a full store: %v", err)
	}
	token := *listAll(t, c, pool, idn.ID, "after", 0).SyncSessionToken
	if _, err := update(c, pool, idn.ID, "after", token, replace("k", value, 0)); err != nil {
		t.Fatalf("write after freeing room: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := store.CheckHealth(context.Background())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still unhealthy after recovery: %v", err)
		}
	}
}
