package sqlstore_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
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
