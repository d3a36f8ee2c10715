package importer_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cognitosync/cognitosync/internal/retry"
	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/client"
	"github.com/cognitosync/cognitosync/syncapi/importer"
)

// source is a syncd serving a pool with identities, datasets, removes and a
// re-created dataset, seeded through its store.
type source struct {
	*synctest.Server
	pool string
	ids  []string
}

func newSource(t testing.TB, identities, datasets, records int) *source {
	t.Helper()
	s := &source{Server: synctest.Start(t, synctest.Options{}), pool: synctest.PoolID()}
	ctx := context.Background()
	if err := s.Store.CreatePool(ctx, syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: s.pool, IdentityPoolName: "src",
		AllowUnauthenticatedIdentities: true}, Events: map[string]string{"SyncTrigger": "arn:aws:lambda:us-east-1:123456789012:function:f"},
		PushSync: &syncapi.PushSync{RoleArn: "arn:aws:iam::123456789012:role/push"}}); err != nil {
		t.Fatal(err)
	}
	for i := range identities {
		id := fmt.Sprintf("%s:%08d-0000-4000-8000-000000000000", synctest.Region, i)
		s.ids = append(s.ids, id)
		if err := s.Store.CreateIdentity(ctx, syncapi.Identity{PoolID: s.pool, ID: id, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
		for d := range datasets {
			k := syncapi.DatasetKey{PoolID: s.pool, IdentityID: id, Name: fmt.Sprintf("ds%d", d)}
			var changes []syncapi.Change
			for r := range records {
				v := fmt.Sprintf("value-%d-%d", r, i)
				changes = append(changes, syncapi.Change{Key: fmt.Sprintf("key%03d", r), Value: &v})
			}
			s.update(t, k, changes...)
			s.update(t, k, syncapi.Change{Key: "key000"}) // a remove: a tombstone
			if d == 0 && i%3 == 0 {
				// Deleted and re-created: the count goes on.
				if _, err := s.Store.DeleteDataset(ctx, k); err != nil {
					t.Fatal(err)
				}
				v := "again"
				s.update(t, k, syncapi.Change{Key: "back", Value: &v})
			}
		}
	}
	return s
}

func (s *source) update(t testing.TB, k syncapi.DatasetKey, changes ...syncapi.Change) {
	t.Helper()
	if _, err := s.Store.UpdateRecords(context.Background(), syncapi.UpdateRequest{Key: k, Changes: changes, By: s.AccountID, Limits: syncapi.DefaultLimits}); err != nil {
		t.Fatal(err)
	}
}

// client returns the typed client (and its Cognito Identity client) for
// url with the source's developer key; no retries of its own, so the
// import's backoff handles throttling.
func (s *source) client(url string) *client.Client {
	return client.New(client.Options{Region: synctest.Region, BaseEndpoint: aws.String(url), Retryer: aws.NopRetryer{},
		Credentials: aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: s.DevKeyID, SecretAccessKey: s.DevSecret}, nil
		}))})
}

func run(t testing.TB, s *source, url string, target syncapi.Store, verify bool) importer.Summary {
	t.Helper()
	c := s.client(url)
	im, err := importer.New(importer.Config{PoolID: s.pool, Sync: c, Identity: c.Identity(), Target: target.(importer.Target),
		Verify: verify, Backoff: retry.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := im.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestImport_EqualOnEveryStore: the import into either store gives the
// source's pool configuration and every record with its counts and dates
// (the full verification compares them), and a second run changes nothing.
func TestImport_EqualOnEveryStore(t *testing.T) {
	for name, open := range synctest.Stores() {
		t.Run(name, func(t *testing.T) {
			s := newSource(t, 7, 2, 5)
			target := open(t)
			sum := run(t, s, s.URL, target, true)
			if len(sum.Differences) != 0 || sum.Identities != 7 || sum.Datasets != 14 || sum.Compared != 14 {
				t.Fatalf("summary %+v", sum)
			}
			if sum.SourceStorage == 0 || sum.SourceStorage != sum.TargetStorage {
				t.Fatalf("storage: source %d, target %d", sum.SourceStorage, sum.TargetStorage)
			}
			p, err := target.GetPool(context.Background(), s.pool)
			if err != nil {
				t.Fatal(err)
			}
			if p.Identity.IdentityPoolName != "src" || !p.Identity.AllowUnauthenticatedIdentities || p.PushSync == nil ||
				p.PushSync.RoleArn != "arn:aws:iam::123456789012:role/push" || p.Events["SyncTrigger"] == "" {
				t.Fatalf("target pool %+v", p)
			}
			// The re-created dataset continues its count; its deletion is
			// not visible to ListRecords, so DeletedAt is not copied.
			k := syncapi.DatasetKey{PoolID: s.pool, IdentityID: s.ids[0], Name: "ds0"}
			src, _ := s.Store.GetDataset(context.Background(), k)
			dst, _ := target.GetDataset(context.Background(), k)
			if src.SyncCount != dst.SyncCount || !dst.Exists || !src.CreationDate.Equal(dst.CreationDate.Time) ||
				!src.LastModifiedDate.Equal(dst.LastModifiedDate.Time) || src.LastModifiedBy != dst.LastModifiedBy {
				t.Fatalf("re-created dataset: source %+v, target %+v", src, dst)
			}
			again := run(t, s, s.URL, target, true)
			if len(again.Differences) != 0 || again.Resumed || again.Records != sum.Records {
				t.Fatalf("second run %+v", again)
			}
		})
	}
}

// throttler is a loopback proxy in front of a syncd that answers every
// other request as AWS does when a quota is exceeded: 429 with
// TooManyRequestsException, on both wires.
type throttler struct {
	n, throttled atomic.Int64
	proxy        *httputil.ReverseProxy
}

func (th *throttler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if th.n.Add(1)%2 == 0 {
		th.throttled.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", "TooManyRequestsException")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"__type":"TooManyRequestsException","message":"Rate exceeded"}`)
		return
	}
	th.proxy.ServeHTTP(w, r)
}

// TestImport_BacksOffWhenThrottled: a source that throttles every other
// call still gets copied whole; each throttled call is retried after a
// backoff and counted.
func TestImport_BacksOffWhenThrottled(t *testing.T) {
	s := newSource(t, 5, 2, 3)
	u, _ := url.Parse(s.URL)
	th := &throttler{proxy: httputil.NewSingleHostReverseProxy(u)}
	proxy := httptest.NewServer(th)
	t.Cleanup(proxy.Close)
	target := synctest.SQLite(t)
	sum := run(t, s, proxy.URL, target, true)
	if len(sum.Differences) != 0 || sum.Identities != 5 || sum.Compared != 10 {
		t.Fatalf("summary %+v", sum)
	}
	if sum.Throttled == 0 || th.throttled.Load() == 0 {
		t.Fatalf("the import saw %d throttled calls, the proxy throttled %d", sum.Throttled, th.throttled.Load())
	}
}

// TestImport_MissingPool: a pool the source does not have is an error that
// names it, and the target gets nothing.
func TestImport_MissingPool(t *testing.T) {
	s := newSource(t, 1, 1, 1)
	c := s.client(s.URL)
	target := synctest.SQLite(t)
	missing := synctest.PoolID()
	im, err := importer.New(importer.Config{PoolID: missing, Sync: c, Identity: c.Identity(), Target: target.(importer.Target)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = im.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("err = %v", err)
	}
	if _, err := target.GetPool(context.Background(), missing); err == nil {
		t.Fatal("the target got the pool")
	}
}
