// Package importer copies a Cognito Sync identity pool from another Cognito
// Sync (AWS, or another syncd) into a syncd store with its ids and counts:
// the pool's configuration, every identity with its id and developer user
// identifiers, every dataset and record with the source's SyncCount,
// DatasetSyncCount and dates, tombstones included. Devices that synced with
// the source then continue against syncd without re-downloading or
// conflicting (README "Moving off AWS").
//
// It reads only public API with developer credentials (Cognito Identity:
// DescribeIdentityPool, ListIdentities, LookupDeveloperIdentity; Cognito
// Sync: GetIdentityPoolConfiguration, GetCognitoEvents, ListDatasets,
// ListRecords, DescribeIdentityPoolUsage) and writes through the store's
// import operation (syncapi.Importer), never UpdateRecords, which would
// renumber. Every write is idempotent and never moves a record back, so an
// import may overlap with the syncd sink that applies the pool's stream,
// and may run while the target serves.
//
// Progress (the position in the source's identity list) is kept in the
// target store after every page of identities, so an import that was
// killed resumes where it stopped; at most one page is read again.
package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/cognitosync/cognitosync/internal/retry"
	"github.com/cognitosync/cognitosync/syncapi"
)

// SyncAPI is the part of Cognito Sync the import reads (syncapi/client's
// Client implements it).
type SyncAPI interface {
	GetIdentityPoolConfiguration(ctx context.Context, in syncapi.PoolInput) (syncapi.PoolConfiguration, error)
	GetCognitoEvents(ctx context.Context, in syncapi.PoolInput) (syncapi.CognitoEventsOutput, error)
	DescribeIdentityPoolUsage(ctx context.Context, in syncapi.PoolInput) (syncapi.DescribeIdentityPoolUsageOutput, error)
	ListDatasets(ctx context.Context, in syncapi.ListDatasetsInput) (syncapi.ListDatasetsOutput, error)
	ListRecords(ctx context.Context, in syncapi.ListRecordsInput) (syncapi.ListRecordsOutput, error)
}

// IdentityAPI is the part of Cognito Identity the import reads
// (aws-sdk-go-v2's cognitoidentity.Client implements it).
type IdentityAPI interface {
	DescribeIdentityPool(ctx context.Context, in *cognitoidentity.DescribeIdentityPoolInput, optFns ...func(*cognitoidentity.Options)) (*cognitoidentity.DescribeIdentityPoolOutput, error)
	ListIdentities(ctx context.Context, in *cognitoidentity.ListIdentitiesInput, optFns ...func(*cognitoidentity.Options)) (*cognitoidentity.ListIdentitiesOutput, error)
	LookupDeveloperIdentity(ctx context.Context, in *cognitoidentity.LookupDeveloperIdentityInput, optFns ...func(*cognitoidentity.Options)) (*cognitoidentity.LookupDeveloperIdentityOutput, error)
}

// Target is the store the pool is copied into.
type Target interface {
	syncapi.Store
	syncapi.Importer
}

// Config configures an import.
type Config struct {
	PoolID   string      // required: the IdentityPoolId to copy, kept as is
	Sync     SyncAPI     // required: the source's Cognito Sync
	Identity IdentityAPI // required: the source's Cognito Identity
	Target   Target      // required
	// Logins links developer user identifiers when the target implements
	// it (nil: found by type assertion on Target; none: not linked).
	Logins syncapi.LoginStore
	// Rate bounds the calls to the source per second (bursts of up to
	// Rate); 0: unbounded. Throttled calls (TooManyRequestsException) are
	// retried with Backoff whatever the rate.
	Rate float64
	// Parallel is the number of identities copied at once; 0: 4.
	Parallel int
	// Backoff paces retries of throttled calls; zero: 200 ms to 20 s.
	Backoff retry.Backoff
	// Verify compares every dataset of the source with the target at the
	// end; otherwise a sample of up to SampleSize datasets is compared.
	Verify     bool
	SampleSize int // 0: 20
	// Progress, when set, is called about every ProgressEvery with the
	// counts so far (and once at the end); the caller shows it.
	Progress      func(Progress)
	ProgressEvery time.Duration // 0: 500 ms
	Log           *slog.Logger  // nil: discard
	Now           func() time.Time
}

func (c *Config) setDefaults() {
	if c.Parallel <= 0 {
		c.Parallel = 4
	}
	c.Backoff = c.Backoff.WithDefaults(200*time.Millisecond, 20*time.Second)
	if c.SampleSize <= 0 {
		c.SampleSize = 20
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 500 * time.Millisecond
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logins == nil {
		c.Logins, _ = c.Target.(syncapi.LoginStore)
	}
}

// Validate reports every missing field.
func (c Config) Validate() error {
	var errs []error
	if c.PoolID == "" {
		errs = append(errs, errors.New("importer: PoolID is required"))
	}
	if c.Sync == nil || c.Identity == nil {
		errs = append(errs, errors.New("importer: Sync and Identity (the source) are required"))
	}
	if c.Target == nil {
		errs = append(errs, errors.New("importer: Target is required"))
	}
	if c.Rate < 0 {
		errs = append(errs, errors.New("importer: Rate must not be negative"))
	}
	return errors.Join(errs...)
}

// Progress is the state of a running import.
type Progress struct {
	Identities, Datasets, Records int64 // copied so far (this run and the runs it resumes)
	Bytes                         int64 // UTF-8 bytes of live keys and values copied
	TotalBytes                    int64 // the source pool's DataStorage; 0: unknown
	Throttled                     int64 // calls the source throttled
	Elapsed                       time.Duration
	Resumed                       bool
	// ResumedRecords (and ResumedBytes) were copied by the earlier runs
	// this one resumes.
	ResumedRecords, ResumedBytes int64
	Done                         bool
}

// Rate returns the records copied per second by this run.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Records-p.ResumedRecords) / p.Elapsed.Seconds()
}

// ETA estimates the time left from the share of the source's data copied
// so far; 0 when it cannot tell.
func (p Progress) ETA() time.Duration {
	run := p.Bytes - p.ResumedBytes
	if p.TotalBytes <= 0 || run <= 0 || p.Bytes >= p.TotalBytes || p.Elapsed <= 0 {
		return 0
	}
	return time.Duration(float64(p.Elapsed) * float64(p.TotalBytes-p.Bytes) / float64(run))
}

// state is the progress note kept in the target (syncapi.Importer
// ImportState) after every page of identities.
type state struct {
	Version    int       `json:"version"`
	Done       bool      `json:"done"`
	NextToken  string    `json:"next_token"` // the next page of ListIdentities; "": the first
	Identities int64     `json:"identities"`
	Datasets   int64     `json:"datasets"`
	Records    int64     `json:"records"`
	Bytes      int64     `json:"bytes"`
	Started    time.Time `json:"started"`
	Updated    time.Time `json:"updated"`
}

// Summary is what an import did and what its verification found.
type Summary struct {
	Progress
	// Developer user identifiers linked, and identities with logins of
	// other providers (their subjects are not disclosed by AWS: they come
	// over through the login fallback, or not at all).
	DeveloperLogins, OtherLoginIdentities int64
	// Source and target usage of the pool after the import.
	SourceStorage, TargetStorage int64
	// Verification: datasets compared and the differences found (empty:
	// the target equals the source for every compared dataset).
	Compared    int
	Differences []string
}

// Import is one run of an import.
type Import struct {
	c       Config
	limiter *rate.Limiter
	devName string // the pool's DeveloperProviderName

	identities, datasets, records, bytes atomic.Int64
	throttled, devLogins, otherLogins    atomic.Int64
	totalBytes                           atomic.Int64

	mu     sync.Mutex
	sample []syncapi.DatasetKey // datasets to verify
	seen   int64                // datasets seen, for reservoir sampling
}

// New checks c.
func New(c Config) (*Import, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.setDefaults()
	im := &Import{c: c}
	if c.Rate > 0 {
		im.limiter = rate.NewLimiter(rate.Limit(c.Rate), max(1, int(c.Rate)))
	}
	return im, nil
}

// Run copies the pool, resuming an unfinished earlier run, and verifies.
// It returns an error when the source or the target fails (the import can
// be run again: it resumes); differences found by the verification are in
// the Summary, not an error.
func (im *Import) Run(ctx context.Context) (Summary, error) {
	c := im.c
	start := c.Now()
	if err := im.copyPool(ctx); err != nil {
		return Summary{}, err
	}
	st, err := im.loadState(ctx)
	if err != nil {
		return Summary{}, err
	}
	resumed := !st.Started.IsZero() && !st.Done
	if !resumed {
		if st.Done {
			c.Log.Info("an earlier import of the pool finished; importing again from the start to pick up later changes",
				"identity_pool", c.PoolID, "finished", st.Updated)
		}
		st = state{Version: 1, Started: start}
	} else {
		c.Log.Info("resuming the import of the pool", "identity_pool", c.PoolID,
			"identities_done", st.Identities, "records_done", st.Records, "started", st.Started)
	}
	im.identities.Store(st.Identities)
	im.datasets.Store(st.Datasets)
	im.records.Store(st.Records)
	im.bytes.Store(st.Bytes)
	if u, err := call(ctx, im, func(ctx context.Context) (syncapi.DescribeIdentityPoolUsageOutput, error) {
		return c.Sync.DescribeIdentityPoolUsage(ctx, syncapi.PoolInput{IdentityPoolID: c.PoolID})
	}); err == nil {
		im.totalBytes.Store(u.IdentityPoolUsage.DataStorage)
	} else if ctx.Err() != nil {
		return Summary{}, ctx.Err()
	} else {
		c.Log.Warn("no pool usage from the source; progress shows no ETA", "err", err)
	}

	resumedRecords, resumedBytes := st.Records, st.Bytes
	progress := func(done bool) Progress {
		return Progress{Identities: im.identities.Load(), Datasets: im.datasets.Load(), Records: im.records.Load(),
			Bytes: im.bytes.Load(), TotalBytes: im.totalBytes.Load(), Throttled: im.throttled.Load(),
			Elapsed: c.Now().Sub(start), Resumed: resumed, ResumedRecords: resumedRecords, ResumedBytes: resumedBytes, Done: done}
	}
	stopProgress := im.report(progress)
	err = im.copyIdentities(ctx, &st)
	stopProgress()
	if err != nil {
		return Summary{Progress: progress(false)}, err
	}
	s := Summary{Progress: progress(true), DeveloperLogins: im.devLogins.Load(), OtherLoginIdentities: im.otherLogins.Load()}
	if c.Progress != nil {
		c.Progress(s.Progress)
	}
	if err := im.verify(ctx, &s); err != nil {
		return s, err
	}
	return s, nil
}

// report calls Config.Progress every ProgressEvery until the returned
// function is called.
func (im *Import) report(progress func(bool) Progress) (stop func()) {
	if im.c.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(im.c.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				im.c.Progress(progress(false))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (im *Import) loadState(ctx context.Context) (state, error) {
	raw, err := im.c.Target.ImportState(ctx, im.c.PoolID)
	if err != nil {
		return state{}, fmt.Errorf("read import progress: %w", err)
	}
	var st state
	if raw == "" {
		return st, nil
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil || st.Version != 1 {
		im.c.Log.Warn("unreadable import progress in the target; starting from the beginning", "err", err)
		return state{}, nil
	}
	return st, nil
}

func (im *Import) saveState(ctx context.Context, st *state) error {
	st.Identities, st.Datasets, st.Records, st.Bytes = im.identities.Load(), im.datasets.Load(), im.records.Load(), im.bytes.Load()
	st.Updated = im.c.Now()
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	// Saved even when ctx ended (Ctrl-C after a page): the page is done.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := im.write(sctx, func() error { return im.c.Target.SetImportState(sctx, im.c.PoolID, string(b)) }); err != nil {
		return fmt.Errorf("save import progress: %w", err)
	}
	return nil
}

// copyIdentities copies the source's identities page by page from
// st.NextToken, saving st after every page.
func (im *Import) copyIdentities(ctx context.Context, st *state) error {
	c := im.c
	restarted := false
	for {
		token := st.NextToken
		page, err := call(ctx, im, func(ctx context.Context) (*cognitoidentity.ListIdentitiesOutput, error) {
			in := &cognitoidentity.ListIdentitiesInput{IdentityPoolId: aws.String(c.PoolID), MaxResults: aws.Int32(60), HideDisabled: false}
			if token != "" {
				in.NextToken = aws.String(token)
			}
			return c.Identity.ListIdentities(ctx, in)
		})
		if err != nil && token != "" && !restarted && isInvalidToken(err) {
			restarted = true
			// An expired page token: start over (every write is idempotent).
			c.Log.Warn("the source no longer accepts the saved position; importing from the start again", "err", err)
			st.NextToken = ""
			continue
		}
		if err != nil {
			return fmt.Errorf("list identities of %s: %w", c.PoolID, err)
		}
		if err := im.copyPage(ctx, page.Identities); err != nil {
			return err
		}
		st.NextToken = aws.ToString(page.NextToken)
		st.Done = st.NextToken == ""
		if err := im.saveState(ctx, st); err != nil {
			return err
		}
		if st.Done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// maxWrites bounds the pages of records per reader that were read and
// are not yet written.
const maxWrites = 4

// copyPage copies a page of identities, Parallel at a time. Their records
// are written by a second group of goroutines, so that reading goes on
// while the target commits (an fsync each on SQLite, shared by the commits
// that come together); the page ends when every write has committed.
func (im *Import) copyPage(ctx context.Context, ids []types.IdentityDescription) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	writes := &pageWrites{cancel: cancel}
	writes.g.SetLimit(im.c.Parallel * maxWrites)
	var readers errgroup.Group
	readers.SetLimit(im.c.Parallel)
	for _, d := range ids {
		readers.Go(func() error {
			err := im.copyIdentity(ctx, writes, d)
			if err != nil {
				cancel() // the other readers and the writes stop too
			}
			return err
		})
	}
	rerr := readers.Wait()
	werr := writes.g.Wait()
	if rerr != nil {
		return rerr
	}
	return werr
}

// pageWrites are the pending writes of a page; cancel stops the page.
type pageWrites struct {
	g      errgroup.Group
	cancel context.CancelFunc
}

// isInvalidToken reports an error of a NextToken the source refuses.
func isInvalidToken(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "InvalidParameterException"
}
