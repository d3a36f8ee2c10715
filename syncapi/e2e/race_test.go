package e2e_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/synctest"
)

// raceRounds runs rounds of 32 concurrent UpdateRecords of the same record
// with the same SyncCount, spread over the given clients (one per server):
// exactly one must win each round, every loser must get a 409, and the
// final record and counter must be the winners' history.
func raceRounds(t *testing.T, clients []*cognitosync.CognitoSync, pool, id string, rounds int) {
	const writers = 32
	ds := "race"
	token := *listAll(t, clients[0], pool, id, ds, 0).SyncSessionToken
	var winners []string
	for round := 0; round < rounds; round++ {
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			won  []string
			errs []error
		)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				val := fmt.Sprintf("r%d-w%d", round, w)
				out, err := update(clients[w%len(clients)], pool, id, ds, token, replace("k", val, int64(round)))
				mu.Lock()
				defer mu.Unlock()
				var rf awserr.RequestFailure
				switch {
				case err == nil:
					if *out.Records[0].SyncCount != int64(round+1) {
						errs = append(errs, fmt.Errorf("winner got SyncCount %d", *out.Records[0].SyncCount))
					}
					won = append(won, val)
				case errors.As(err, &rf) && rf.StatusCode() == 409 && rf.Code() == "ResourceConflictException":
				default:
					errs = append(errs, err)
				}
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("round %d: %v", round, errs)
		}
		if len(won) != 1 {
			t.Fatalf("round %d: %d winners %v, want exactly 1", round, len(won), won)
		}
		winners = append(winners, won[0])
	}
	for i, c := range clients {
		lr := listAll(t, c, pool, id, ds, 0)
		if *lr.DatasetSyncCount != int64(rounds) || len(lr.Records) != 1 || *lr.Records[0].Value != winners[rounds-1] || *lr.Records[0].SyncCount != int64(rounds) {
			t.Fatalf("server %d after %d rounds: count %d records %v, want last winner %s", i, rounds, *lr.DatasetSyncCount, lr.Records, winners[rounds-1])
		}
		dd := must[*cognitosync.DescribeDatasetOutput](t)(c.DescribeDataset(&cognitosync.DescribeDatasetInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(id), DatasetName: aws.String(ds)}))
		if *dd.Dataset.NumRecords != 1 || *dd.Dataset.DataStorage != int64(1+len(winners[rounds-1])) {
			t.Fatalf("dataset figures drifted: %v", dd.Dataset)
		}
	}
}

// TestRace_SameRecord: 32 writers on one record through one syncd.
func TestRace_SameRecord(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(testing.TB) storeT) {
		srv := synctest.Start(t, synctest.Options{Store: newStore(t)})
		pool := synctest.PoolID()
		srv.CreatePool(t, pool)
		idn := srv.NewIdentity(t, pool)
		raceRounds(t, []*cognitosync.CognitoSync{synctest.SyncV1(t, srv.URL, idn.V1())}, pool, idn.ID, 10)
	})
}

// TestRace_TwoServersOnePostgres: the same race spread over two syncd stacks
// with their own connection pools on one PostgreSQL database.
func TestRace_TwoServersOnePostgres(t *testing.T) {
	url := synctest.PostgresURL(t)
	s1 := synctest.Start(t, synctest.Options{Store: synctest.Open(t, url)})
	s2 := synctest.Start(t, synctest.Options{Store: synctest.Open(t, url)})
	pool := synctest.PoolID()
	s1.CreatePool(t, pool)
	idn := s1.NewIdentity(t, pool) // credentials issued by s1 work on s2: they live in the store
	raceRounds(t, []*cognitosync.CognitoSync{synctest.SyncV1(t, s1.URL, idn.V1()), synctest.SyncV1(t, s2.URL, idn.V1())}, pool, idn.ID, 10)
}
