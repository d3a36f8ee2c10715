package importer_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"golang.org/x/sync/errgroup"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/client"
	"github.com/cognitosync/cognitosync/syncapi/importer"
)

const benchParallel = 4

// listAll reads every record of every dataset of the source the way the
// import does (ListDatasets, then ListRecords from 0 in pages), with the
// same parallelism, and writes nothing: the source's own ListRecords rate.
func listAll(b *testing.B, s *source) int64 {
	c := benchClient(s)
	var g errgroup.Group
	g.SetLimit(benchParallel)
	var n [benchParallel * 64]int64
	for i, id := range s.ids {
		g.Go(func() error {
			ds, err := c.ListDatasets(context.Background(), syncapi.ListDatasetsInput{IdentityPoolID: s.pool, IdentityID: id, MaxResults: aws.Int32(60)})
			if err != nil {
				return err
			}
			zero := int64(0)
			for _, d := range ds.Datasets {
				token := ""
				for {
					out, err := c.ListRecords(context.Background(), syncapi.ListRecordsInput{IdentityPoolID: s.pool, IdentityID: id,
						DatasetName: d.DatasetName, LastSyncCount: &zero, NextToken: token, MaxResults: aws.Int32(1024)})
					if err != nil {
						return err
					}
					n[i%len(n)] += int64(len(out.Records))
					if token = out.NextToken; token == "" {
						break
					}
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, v := range n {
		total += v
	}
	return total
}

// benchClient is the source's client with the SDK's standard retryer, as
// `syncd import` has it: the tests' clients retry nothing, so that a
// failure shows, but a benchmark run of tens of thousands of calls on a
// loaded machine met a connection error about once in three runs, and the
// import retries those in production.
func benchClient(s *source) *client.Client {
	return client.New(client.Options{Region: synctest.Region, BaseEndpoint: aws.String(s.URL),
		Credentials: aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: s.DevKeyID, SecretAccessKey: s.DevSecret}, nil
		}))})
}

// BenchmarkImport reports the import's records per second as a ratio of
// the source's own ListRecords rate measured in the same run (reading the
// same datasets with the same parallelism): what writing through the
// import operation costs on top of reading. Aim: at least 0.7.
func BenchmarkImport(b *testing.B) {
	s := newSource(b, 150, 3, 50)
	var listDur, importDur time.Duration
	var listed, imported int64
	for b.Loop() {
		start := time.Now()
		listed += listAll(b, s)
		listDur += time.Since(start)

		target := synctest.SQLite(b)
		c := benchClient(s)
		im, err := importer.New(importer.Config{PoolID: s.pool, Sync: c, Identity: c.Identity(), Target: target.(importer.Target),
			Parallel: benchParallel, SampleSize: 1})
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		sum, err := im.Run(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		importDur += time.Since(start)
		imported += sum.Records
	}
	listRate := float64(listed) / listDur.Seconds()
	importRate := float64(imported) / importDur.Seconds()
	b.ReportMetric(listRate, "listed-records/s")
	b.ReportMetric(importRate, "imported-records/s")
	b.ReportMetric(importRate/listRate, "import/list")
}
