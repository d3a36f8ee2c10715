package importer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity/types"
	"github.com/aws/smithy-go"

	"github.com/cognitosync/cognitosync/internal/retry"
	"github.com/cognitosync/cognitosync/syncapi"
)

// call runs one source call under the rate limit, retrying it with backoff
// for as long as the source throttles it.
func call[T any](ctx context.Context, im *Import, fn func(context.Context) (T, error)) (T, error) {
	b := im.c.Backoff.New()
	for {
		if im.limiter != nil {
			if err := im.limiter.Wait(ctx); err != nil {
				var zero T
				return zero, err
			}
		}
		out, err := fn(ctx)
		if err == nil || !isThrottle(err) || ctx.Err() != nil {
			return out, err
		}
		n := im.throttled.Add(1)
		if n == 1 || n%100 == 0 {
			im.c.Log.Warn("the source throttles the import; backing off (lower --rate to spare its quota)", "throttled", n, "err", err)
		}
		if err := retry.Sleep(ctx, b.NextBackOff()); err != nil {
			var zero T
			return zero, err
		}
	}
}

// write runs a write to the target, retrying it with backoff while the
// target reports a transient failure (ErrUnavailable: a SQLite database
// busy beyond its timeout with syncd and the sink writing too, PostgreSQL
// restarting, a full disk), for up to maxWriteRetry.
func (im *Import) write(ctx context.Context, fn func() error) error {
	b := im.c.Backoff.New()
	deadline := im.c.Now().Add(maxWriteRetry)
	for {
		err := fn()
		if err == nil || !errors.Is(err, syncapi.ErrUnavailable) || ctx.Err() != nil || im.c.Now().After(deadline) {
			return err
		}
		im.c.Log.Warn("the target store failed for now; retrying", "err", err)
		if err := retry.Sleep(ctx, b.NextBackOff()); err != nil {
			return err
		}
	}
}

// maxWriteRetry bounds how long a write to the target is retried.
const maxWriteRetry = 2 * time.Minute

// isThrottle reports a call the source refused for its rate: Cognito
// Sync's and Cognito Identity's TooManyRequestsException, or a generic
// throttling code.
func isThrottle(err error) bool {
	if errors.Is(err, syncapi.ErrTooManyRequests) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded":
			return true
		}
	}
	return false
}

// copyPool creates or updates the target pool with the source's
// configuration: Cognito Identity attributes, push sync, streams and
// events.
func (im *Import) copyPool(ctx context.Context) error {
	c := im.c
	in := syncapi.PoolInput{IdentityPoolID: c.PoolID}
	d, err := call(ctx, im, func(ctx context.Context) (*cognitoidentity.DescribeIdentityPoolOutput, error) {
		return c.Identity.DescribeIdentityPool(ctx, &cognitoidentity.DescribeIdentityPoolInput{IdentityPoolId: aws.String(c.PoolID)})
	})
	if err != nil {
		return fmt.Errorf("describe identity pool %s at the source: %w", c.PoolID, err)
	}
	conf, err := call(ctx, im, func(ctx context.Context) (syncapi.PoolConfiguration, error) {
		return c.Sync.GetIdentityPoolConfiguration(ctx, in)
	})
	if err != nil {
		return fmt.Errorf("get identity pool configuration of %s at the source: %w", c.PoolID, err)
	}
	ev, err := call(ctx, im, func(ctx context.Context) (syncapi.CognitoEventsOutput, error) {
		return c.Sync.GetCognitoEvents(ctx, in)
	})
	if err != nil {
		return fmt.Errorf("get cognito events of %s at the source: %w", c.PoolID, err)
	}
	attrs := identityPool(d)
	im.devName = attrs.DeveloperProviderName
	set := func(p *syncapi.Pool) {
		p.Identity = attrs
		p.PushSync, p.CognitoStreams = conf.PushSync, conf.CognitoStreams
		p.Events = nil
		if len(ev.Events) > 0 {
			p.Events = ev.Events
		}
	}
	_, err = c.Target.UpdatePool(ctx, c.PoolID, func(p *syncapi.Pool) error { set(p); return nil })
	if errors.Is(err, syncapi.ErrNotFound) {
		p := syncapi.Pool{Created: c.Now()}
		set(&p)
		err = c.Target.CreatePool(ctx, p)
		if errors.Is(err, syncapi.ErrConflict) { // created meanwhile (a sink, another import)
			_, err = c.Target.UpdatePool(ctx, c.PoolID, func(p *syncapi.Pool) error { set(p); return nil })
		}
	}
	if err != nil {
		return fmt.Errorf("store identity pool %s in the target: %w", c.PoolID, err)
	}
	c.Log.Info("pool configuration copied", "identity_pool", c.PoolID, "name", attrs.IdentityPoolName,
		"developer_provider", attrs.DeveloperProviderName, "streams", conf.CognitoStreams != nil, "events", len(ev.Events))
	return nil
}

// identityPool converts DescribeIdentityPool's answer.
func identityPool(d *cognitoidentity.DescribeIdentityPoolOutput) syncapi.IdentityPool {
	p := syncapi.IdentityPool{
		IdentityPoolID:                 aws.ToString(d.IdentityPoolId),
		IdentityPoolName:               aws.ToString(d.IdentityPoolName),
		AllowUnauthenticatedIdentities: d.AllowUnauthenticatedIdentities,
		AllowClassicFlow:               d.AllowClassicFlow,
		SupportedLoginProviders:        d.SupportedLoginProviders,
		DeveloperProviderName:          aws.ToString(d.DeveloperProviderName),
		OpenIDConnectProviderARNs:      d.OpenIdConnectProviderARNs,
		SamlProviderARNs:               d.SamlProviderARNs,
		IdentityPoolTags:               d.IdentityPoolTags,
	}
	for _, cp := range d.CognitoIdentityProviders {
		p.CognitoIdentityProviders = append(p.CognitoIdentityProviders, cognitoProvider(cp))
	}
	return p
}

func cognitoProvider(cp types.CognitoIdentityProvider) syncapi.CognitoIdentityProvider {
	return syncapi.CognitoIdentityProvider{ProviderName: aws.ToString(cp.ProviderName), ClientID: aws.ToString(cp.ClientId), ServerSideTokenCheck: cp.ServerSideTokenCheck}
}

// copyIdentity copies one identity: the identity with its id and creation
// date, its developer user identifiers, and all its datasets.
func (im *Import) copyIdentity(ctx context.Context, writes *pageWrites, d types.IdentityDescription) error {
	c := im.c
	id := aws.ToString(d.IdentityId)
	created := aws.ToTime(d.CreationDate)
	// The identity's first dataset creates it in the target (one write
	// less per identity); one without datasets is created here, as are
	// those with logins to link.
	var datasets []syncapi.Dataset
	token := ""
	for {
		out, err := call(ctx, im, func(ctx context.Context) (syncapi.ListDatasetsOutput, error) {
			return c.Sync.ListDatasets(ctx, syncapi.ListDatasetsInput{IdentityPoolID: c.PoolID, IdentityID: id, NextToken: token, MaxResults: aws.Int32(60)})
		})
		if err != nil {
			return fmt.Errorf("list datasets of %s: %w", id, err)
		}
		datasets = append(datasets, out.Datasets...)
		if token = out.NextToken; token == "" {
			break
		}
	}
	if len(datasets) == 0 || len(d.Logins) > 0 {
		err := im.write(ctx, func() error {
			return c.Target.CreateIdentity(ctx, syncapi.Identity{PoolID: c.PoolID, ID: id, Created: created})
		})
		if errors.Is(err, syncapi.ErrConflict) {
			var have syncapi.Identity
			if have, err = c.Target.GetIdentity(ctx, id); err == nil && have.PoolID != c.PoolID {
				err = fmt.Errorf("the target holds identity %s in identity pool %s", id, have.PoolID)
			}
		}
		if err != nil {
			return fmt.Errorf("store identity %s: %w", id, err)
		}
	}
	other := false
	for _, provider := range d.Logins {
		if provider == im.devName && im.devName != "" {
			if err := im.copyDeveloperLogins(ctx, id); err != nil {
				return err
			}
		} else {
			other = true
		}
	}
	if other {
		im.otherLogins.Add(1)
	}
	for _, ds := range datasets {
		if err := im.copyDataset(ctx, writes, id, created, ds); err != nil {
			return err
		}
	}
	im.identities.Add(1)
	return nil
}

// copyDeveloperLogins links the identity's developer user identifiers in
// the target, so that GetOpenIdTokenForDeveloperIdentity and
// LookupDeveloperIdentity find the same identity for them.
func (im *Import) copyDeveloperLogins(ctx context.Context, id string) error {
	c := im.c
	token := ""
	for {
		out, err := call(ctx, im, func(ctx context.Context) (*cognitoidentity.LookupDeveloperIdentityOutput, error) {
			in := &cognitoidentity.LookupDeveloperIdentityInput{IdentityPoolId: aws.String(c.PoolID), IdentityId: aws.String(id), MaxResults: aws.Int32(60)}
			if token != "" {
				in.NextToken = aws.String(token)
			}
			return c.Identity.LookupDeveloperIdentity(ctx, in)
		})
		if err != nil {
			return fmt.Errorf("lookup developer identity %s: %w", id, err)
		}
		if c.Logins == nil {
			if len(out.DeveloperUserIdentifierList) > 0 {
				c.Log.Warn("the target store cannot keep logins; developer user identifiers are not copied", "identity_id", id)
			}
			return nil
		}
		for _, user := range out.DeveloperUserIdentifierList {
			_, err := c.Logins.Link(ctx, syncapi.LinkRequest{PoolID: c.PoolID, IdentityID: id,
				Logins: []syncapi.Login{{Provider: im.devName, Subject: user}}, Conflict: syncapi.RefuseConflict, Now: c.Now()})
			switch {
			case errors.Is(err, syncapi.ErrDeveloperUserRegistered):
				c.Log.Warn("developer user already linked to another identity in the target; left as it is",
					"identity_id", id, "developer_user", user)
			case err != nil:
				return fmt.Errorf("link developer user of %s: %w", id, err)
			default:
				im.devLogins.Add(1)
			}
		}
		if token = aws.ToString(out.NextToken); token == "" {
			return nil
		}
	}
}

// copyDataset copies every record the source lists for the dataset (from
// SyncCount 0: live records and tombstones) with its counts and dates.
func (im *Import) copyDataset(ctx context.Context, writes *pageWrites, id string, created time.Time, ds syncapi.Dataset) error {
	c := im.c
	k := syncapi.DatasetKey{PoolID: c.PoolID, IdentityID: id, Name: ds.DatasetName}
	token, session := "", ""
	zero := int64(0)
	for {
		out, err := call(ctx, im, func(ctx context.Context) (syncapi.ListRecordsOutput, error) {
			return c.Sync.ListRecords(ctx, syncapi.ListRecordsInput{IdentityPoolID: c.PoolID, IdentityID: id, DatasetName: ds.DatasetName,
				LastSyncCount: &zero, NextToken: token, MaxResults: aws.Int32(1024), SyncSessionToken: session})
		})
		if err != nil {
			return fmt.Errorf("list records of %s: %w", k, err)
		}
		if !out.DatasetExists {
			return nil // deleted since ListDatasets; the stream brings the deletion
		}
		// The dataset's modification as of this listing: ListDatasets
		// may predate it, the newest record listed may not.
		modified, by := ds.LastModifiedDate.Time, ds.LastModifiedBy
		for _, r := range out.Records {
			if r.LastModifiedDate.After(modified) {
				modified = r.LastModifiedDate.Time
			}
		}
		if out.LastModifiedBy != "" {
			by = out.LastModifiedBy
		}
		writes.g.Go(func() error {
			err := im.write(ctx, func() error {
				_, err := c.Target.ImportRecords(ctx, syncapi.ImportRequest{Key: k, Records: out.Records, DatasetSyncCount: out.DatasetSyncCount,
					CreationDate: ds.CreationDate.Time, LastModifiedDate: modified, LastModifiedBy: by,
					Authoritative: true, IdentityCreated: created, Now: c.Now()})
				return err
			})
			if err != nil {
				writes.cancel() // the readers stop too
				return fmt.Errorf("import records of %s: %w", k, err)
			}
			var n int64
			for _, r := range out.Records {
				if r.Value != nil {
					n += int64(len(r.Key) + len(*r.Value))
				}
			}
			im.records.Add(int64(len(out.Records)))
			im.bytes.Add(n)
			return nil
		})
		session = out.SyncSessionToken
		if token = out.NextToken; token == "" {
			break
		}
	}
	im.datasets.Add(1)
	im.sampleDataset(k)
	return nil
}

// sampleDataset keeps k for the verification: every dataset with Verify,
// else a uniform sample of SampleSize (reservoir sampling).
func (im *Import) sampleDataset(k syncapi.DatasetKey) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.seen++
	switch {
	case im.c.Verify:
		// Verify lists the source again, identity by identity; nothing to keep.
	case len(im.sample) < im.c.SampleSize:
		im.sample = append(im.sample, k)
	default:
		if j := rand.Int64N(im.seen); j < int64(im.c.SampleSize) {
			im.sample[j] = k
		}
	}
}

// sorted returns the sampled datasets in a stable order.
func (im *Import) sorted() []syncapi.DatasetKey {
	im.mu.Lock()
	defer im.mu.Unlock()
	out := slices.Clone(im.sample)
	slices.SortFunc(out, func(a, b syncapi.DatasetKey) int {
		if a.IdentityID != b.IdentityID {
			if a.IdentityID < b.IdentityID {
				return -1
			}
			return 1
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}
