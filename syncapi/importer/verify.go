package importer

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"

	"github.com/cognitosync/cognitosync/syncapi"
)

// maxDifferences bounds the differences a verification reports.
const maxDifferences = 50

// verify compares the pool's usage, and the sampled (or, with Verify,
// every) dataset of the source with the target, record by record.
func (im *Import) verify(ctx context.Context, s *Summary) error {
	c := im.c
	if u, err := call(ctx, im, func(ctx context.Context) (syncapi.DescribeIdentityPoolUsageOutput, error) {
		return c.Sync.DescribeIdentityPoolUsage(ctx, syncapi.PoolInput{IdentityPoolID: c.PoolID})
	}); err == nil {
		s.SourceStorage = u.IdentityPoolUsage.DataStorage
	} else if ctx.Err() != nil {
		return ctx.Err()
	}
	if u, err := c.Target.PoolUsage(ctx, c.PoolID); err == nil {
		s.TargetStorage = u.DataStorage
	} else {
		return fmt.Errorf("target pool usage: %w", err)
	}
	if !c.Verify {
		for _, k := range im.sorted() {
			if err := im.compareDataset(ctx, k, s); err != nil {
				return err
			}
		}
		return nil
	}
	token := ""
	for {
		page, err := call(ctx, im, func(ctx context.Context) (*cognitoidentity.ListIdentitiesOutput, error) {
			in := &cognitoidentity.ListIdentitiesInput{IdentityPoolId: aws.String(c.PoolID), MaxResults: aws.Int32(60)}
			if token != "" {
				in.NextToken = aws.String(token)
			}
			return c.Identity.ListIdentities(ctx, in)
		})
		if err != nil {
			return fmt.Errorf("verify: list identities: %w", err)
		}
		for _, d := range page.Identities {
			if err := im.compareIdentity(ctx, aws.ToString(d.IdentityId), s); err != nil {
				return err
			}
		}
		if token = aws.ToString(page.NextToken); token == "" {
			return nil
		}
	}
}

func (s *Summary) differ(format string, args ...any) {
	if len(s.Differences) < maxDifferences {
		s.Differences = append(s.Differences, fmt.Sprintf(format, args...))
	}
}

// compareIdentity compares the identity and every dataset of it.
func (im *Import) compareIdentity(ctx context.Context, id string, s *Summary) error {
	c := im.c
	if got, err := c.Target.GetIdentity(ctx, id); errors.Is(err, syncapi.ErrNotFound) {
		s.differ("identity %s: missing in the target", id)
		return nil
	} else if err != nil {
		return fmt.Errorf("verify: %w", err)
	} else if got.PoolID != c.PoolID {
		s.differ("identity %s: in pool %s in the target", id, got.PoolID)
	}
	token := ""
	for {
		out, err := call(ctx, im, func(ctx context.Context) (syncapi.ListDatasetsOutput, error) {
			return c.Sync.ListDatasets(ctx, syncapi.ListDatasetsInput{IdentityPoolID: c.PoolID, IdentityID: id, NextToken: token, MaxResults: aws.Int32(60)})
		})
		if err != nil {
			return fmt.Errorf("verify: list datasets of %s: %w", id, err)
		}
		for _, ds := range out.Datasets {
			if err := im.compareDataset(ctx, syncapi.DatasetKey{PoolID: c.PoolID, IdentityID: id, Name: ds.DatasetName}, s); err != nil {
				return err
			}
		}
		if token = out.NextToken; token == "" {
			return nil
		}
	}
}

// compareDataset lists the dataset at the source and in the target and
// reports every difference: the dataset's sync count, and each record's
// value, SyncCount, dates and LastModifiedBy.
func (im *Import) compareDataset(ctx context.Context, k syncapi.DatasetKey, s *Summary) error {
	c := im.c
	src := map[string]syncapi.Record{}
	var srcCount int64
	exists := false
	token, session := "", ""
	zero := int64(0)
	for {
		out, err := call(ctx, im, func(ctx context.Context) (syncapi.ListRecordsOutput, error) {
			return c.Sync.ListRecords(ctx, syncapi.ListRecordsInput{IdentityPoolID: k.PoolID, IdentityID: k.IdentityID, DatasetName: k.Name,
				LastSyncCount: &zero, NextToken: token, MaxResults: aws.Int32(1024), SyncSessionToken: session})
		})
		if err != nil {
			return fmt.Errorf("verify: list records of %s: %w", k, err)
		}
		exists, srcCount, session = out.DatasetExists, out.DatasetSyncCount, out.SyncSessionToken
		for _, r := range out.Records {
			src[r.Key] = r
		}
		if token = out.NextToken; token == "" {
			break
		}
	}
	s.Compared++
	st, err := c.Target.GetDataset(ctx, k)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if st.Exists != exists {
		s.differ("dataset %s: exists at the source %v, in the target %v", k, exists, st.Exists)
		return nil
	}
	if !exists {
		return nil
	}
	if st.SyncCount != srcCount {
		s.differ("dataset %s: DatasetSyncCount %d at the source, %d in the target", k, srcCount, st.SyncCount)
	}
	dst := map[string]syncapi.Record{}
	q := syncapi.RecordQuery{Limit: 1024}
	for {
		p, err := c.Target.ListRecords(ctx, k, q)
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		for _, r := range p.Records {
			dst[r.Key] = r
		}
		if !p.More || len(p.Records) == 0 {
			break
		}
		last := p.Records[len(p.Records)-1]
		q.UpTo = p.Dataset.SyncCount
		q.Cursor = &syncapi.RecordCursor{SyncCount: last.SyncCount, Key: last.Key}
	}
	for key, a := range src {
		b, ok := dst[key]
		switch {
		case !ok:
			s.differ("record %s/%q: missing in the target (source SyncCount %d)", k, key, a.SyncCount)
		case !sameRecord(a, b):
			s.differ("record %s/%q: source %s, target %s", k, key, show(a), show(b))
		}
	}
	for key, b := range dst {
		if _, ok := src[key]; !ok {
			s.differ("record %s/%q: only in the target (SyncCount %d)", k, key, b.SyncCount)
		}
	}
	return nil
}

func sameRecord(a, b syncapi.Record) bool {
	return a.SyncCount == b.SyncCount && (a.Value == nil) == (b.Value == nil) && (a.Value == nil || *a.Value == *b.Value) &&
		a.LastModifiedBy == b.LastModifiedBy && a.LastModifiedDate.Equal(b.LastModifiedDate.Time) &&
		a.DeviceLastModifiedDate.Equal(b.DeviceLastModifiedDate.Time)
}

func show(r syncapi.Record) string {
	v := "<removed>"
	if r.Value != nil {
		v = fmt.Sprintf("%q", *r.Value)
	}
	return fmt.Sprintf("{SyncCount %d, Value %s, LastModifiedBy %q, LastModifiedDate %s, DeviceLastModifiedDate %s}",
		r.SyncCount, v, r.LastModifiedBy, r.LastModifiedDate.UTC().Format("2006-01-02T15:04:05.000Z"),
		r.DeviceLastModifiedDate.UTC().Format("2006-01-02T15:04:05.000Z"))
}
