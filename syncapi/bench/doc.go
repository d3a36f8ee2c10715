// Package bench holds syncd's throughput benchmarks: UpdateRecords and
// ListRecords over real HTTP with SigV4, on SQLite, on PostgreSQL and on a
// storage-free baseline that runs the same HTTP + SigV4 + JSON + Service
// path, so each store's cost shows as a ratio to it. Run them with
//
//	go test -run '^$' -bench . -benchtime 5s -count 3 ./syncapi/bench/
//
// PostgreSQL sub-benchmarks need SYNC_TEST_POSTGRES_URL. TestBenchSmoke runs
// every benchmark body for a few requests so CI proves they work.
package bench
