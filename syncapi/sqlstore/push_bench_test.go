package sqlstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
)

// BenchmarkUpdateRecords_PushFanOut measures what queueing push
// notifications adds to a write: UpdateRecords of a dataset with 0 (the
// baseline, measured in the same run), 1 and 8 subscribed devices, on
// each store. "ratio" is ns/op over the baseline's.
func BenchmarkUpdateRecords_PushFanOut(b *testing.B) {
	for name, open := range synctest.Stores() {
		b.Run(name, func(b *testing.B) {
			s := open(b)
			var base float64
			for _, subs := range []int{0, 1, 8} {
				b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
					pool, identity := synctest.PoolID(), synctest.Region+":"+syncapi.NewUUID()
					if err := s.CreatePool(b.Context(), syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: pool, IdentityPoolName: "p"}}); err != nil {
						b.Fatal(err)
					}
					if err := s.CreateIdentity(b.Context(), syncapi.Identity{PoolID: pool, ID: identity}); err != nil {
						b.Fatal(err)
					}
					k := syncapi.DatasetKey{PoolID: pool, IdentityID: identity, Name: "settings"}
					v := "value"
					write := func() {
						if _, err := s.UpdateRecords(b.Context(), syncapi.UpdateRequest{Key: k, By: "w", Device: "writer",
							Changes: []syncapi.Change{{Key: "k", Value: &v}}}); err != nil {
							b.Fatal(err)
						}
					}
					write()
					for i := range subs {
						id, err := s.RegisterDevice(b.Context(), pool, identity, "GCM", fmt.Sprint("token-", i), syncapi.NewUUID())
						if err != nil {
							b.Fatal(err)
						}
						if err := s.Subscribe(b.Context(), k, id); err != nil {
							b.Fatal(err)
						}
					}
					b.ResetTimer()
					start := time.Now()
					for b.Loop() {
						write()
					}
					per := float64(time.Since(start).Nanoseconds()) / float64(b.N)
					if subs == 0 {
						base = per
					}
					if base > 0 {
						b.ReportMetric(per/base, "ratio")
					}
				})
			}
		})
	}
}
