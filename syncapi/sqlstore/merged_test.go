package sqlstore_test

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

// MergedNames lists <name>.<identity of the pool> datasets (spec C.10).
func TestGetDataset_MergedNames(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			db := open(t, d.url(t))
			pool, w, l := "us-east-1:aa", "us-east-1:01", "us-east-1:02"
			if err := db.CreatePool(t.Context(), syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: pool}}); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{w, l} {
				if err := db.CreateIdentity(t.Context(), syncapi.Identity{PoolID: pool, ID: id}); err != nil {
					t.Fatal(err)
				}
			}
			v := "v"
			for _, name := range []string{"N", "N." + l, "N.other", "N." + w, "Nx." + l, "M." + l} {
				k := syncapi.DatasetKey{PoolID: pool, IdentityID: w, Name: name}
				if _, err := db.UpdateRecords(t.Context(), syncapi.UpdateRequest{Key: k, Changes: []syncapi.Change{{Key: "a", Value: &v}}, Now: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct {
				name string
				want []string
			}{{"N", []string{"N." + l}}, {"M", nil}, {"N." + l, nil}} {
				s, err := db.GetDataset(t.Context(), syncapi.DatasetKey{PoolID: pool, IdentityID: w, Name: tc.name})
				if err != nil {
					t.Fatal(err)
				}
				p, err := db.ListRecords(t.Context(), syncapi.DatasetKey{PoolID: pool, IdentityID: w, Name: tc.name}, syncapi.RecordQuery{})
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(s.MergedNames, tc.want) || !reflect.DeepEqual(p.Dataset.MergedNames, tc.want) {
					t.Errorf("%s: MergedNames = %v / %v, want %v", tc.name, s.MergedNames, p.Dataset.MergedNames, tc.want)
				}
			}
		})
	}
}

// Two DBs on one database merging the same pairs at once, as two syncd
// replicas would: every pair ends merged once, with one copy at SyncCount 1.
func TestMerge_TwoProcessesRace(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			u := d.url(t)
			a, b := open(t, u), open(t, u)
			pool := "us-east-1:bb"
			if err := a.CreatePool(t.Context(), syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: pool}}); err != nil {
				t.Fatal(err)
			}
			const pairs = 10
			ids := func(i int) (string, string) {
				return fmt.Sprintf("us-east-1:%02d-w", i), fmt.Sprintf("us-east-1:%02d-l", i)
			}
			v := "v"
			for i := 0; i < pairs; i++ {
				w, l := ids(i)
				for _, id := range []string{w, l} {
					if err := a.CreateIdentity(t.Context(), syncapi.Identity{PoolID: pool, ID: id}); err != nil {
						t.Fatal(err)
					}
				}
				k := syncapi.DatasetKey{PoolID: pool, IdentityID: l, Name: "d"}
				if _, err := a.UpdateRecords(t.Context(), syncapi.UpdateRequest{Key: k, Changes: []syncapi.Change{{Key: "k", Value: &v}}, Now: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			fresh := make([]atomic.Int32, pairs)
			for _, db := range []*sqlstore.DB{a, b, a, b} {
				for i := 0; i < pairs; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						w, l := ids(i)
						res, err := db.Merge(t.Context(), pool, w, l, time.Now())
						if err != nil {
							t.Errorf("Merge %d: %v", i, err)
							return
						}
						if !res.Already {
							fresh[i].Add(1)
						}
					}()
				}
			}
			wg.Wait()
			for i := 0; i < pairs; i++ {
				w, l := ids(i)
				st, err := b.GetDataset(t.Context(), syncapi.DatasetKey{PoolID: pool, IdentityID: w, Name: syncapi.MergedDatasetName("d", l)})
				if err != nil {
					t.Fatal(err)
				}
				if n := fresh[i].Load(); n != 1 || !st.Exists || st.SyncCount != 1 {
					t.Errorf("pair %d: %d merges did the work; copy %+v", i, n, st)
				}
			}
		})
	}
}
