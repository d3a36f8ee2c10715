package syncapi

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cognitosync/cognitosync/internal/ttlcache"
)

// ServiceConfig configures a Service.
type ServiceConfig struct {
	Store         Store         // required
	Region        string        // required; new ids are "<region>:<uuid>"
	Limits        Limits        // zero fields: DefaultLimits
	SessionTTL    time.Duration // SyncSessionToken lifetime; 0: 1 h
	CredentialTTL time.Duration // identity credential lifetime; 0: 1 h
	Owner         string        // this process, for bulk publish jobs; "": a random id
	Now           func() time.Time
	Log           *slog.Logger
	// Trigger runs pools' SyncTrigger functions (spec E). nil: an identity
	// write to a pool that has a SyncTrigger fails with
	// InvalidLambdaFunctionOutputException (fail closed).
	Trigger TriggerInvoker
	// Bulk runs BulkPublish jobs (bulk.go). nil: a BulkPublish is recorded
	// FAILED at once, since there is no stream to publish to.
	Bulk BulkRunner
	// GetIDLimit and GetCredentialsLimit bound the unsigned GetId and
	// GetCredentialsForIdentity calls per identity pool (keyed by pool id),
	// answering TooManyRequestsException past them. nil: unlimited.
	GetIDLimit, GetCredentialsLimit RateLimiter
	// MaxPageBytes bounds a ListRecords page (RecordQuery.MaxBytes).
	// 0: the largest dataset Limits allow, live records and tombstones
	// (DefaultPageBytes), so that a client reading one page without
	// maxResults (iOS, spec C.7) always gets a legal dataset whole.
	MaxPageBytes int64
	// Logins keeps identities' logins (logins.go). nil: the Store's, when
	// it implements LoginStore.
	Logins LoginStore
	// Tokens issues syncd's OpenID tokens and verifies login tokens. nil:
	// every Logins map is refused (NotAuthorizedException) and no token
	// is issued.
	Tokens LoginTokens
	// DeviceRegistered is told of every RegisterDevice that stored or
	// found a device (push sync keeps an SNS platform endpoint with it).
	// Its error is logged and the registration stands: the push
	// dispatcher creates a missing endpoint before the first notification.
	// nil: nothing.
	DeviceRegistered func(ctx context.Context, p Pool, identityID, deviceID, platform, token string) error
	// LoginFallback resolves logins no identity holds yet at the Cognito
	// Identity this syncd replaces (login_fallback.go); nil: none.
	LoginFallback LoginFallback
}

// DefaultPageBytes is the page budget for limits: the bytes of the largest
// dataset they allow, MaxRecords live records and MaxRecords tombstones
// with MaxDatasetBytes of keys and values each (Limits).
func DefaultPageBytes(l Limits) int64 {
	return 2*l.MaxDatasetBytes + 2*l.MaxRecords*RecordOverhead
}

func (c *ServiceConfig) setDefaults() {
	d := DefaultLimits
	if c.Limits.MaxDatasets == 0 {
		c.Limits.MaxDatasets = d.MaxDatasets
	}
	if c.Limits.MaxRecords == 0 {
		c.Limits.MaxRecords = d.MaxRecords
	}
	if c.Limits.MaxDatasetBytes == 0 {
		c.Limits.MaxDatasetBytes = d.MaxDatasetBytes
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = time.Hour
	}
	if c.CredentialTTL == 0 {
		c.CredentialTTL = time.Hour
	}
	if c.Owner == "" {
		c.Owner = randomHex(8)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.MaxPageBytes == 0 {
		c.MaxPageBytes = DefaultPageBytes(c.Limits)
	}
	if c.Logins == nil {
		c.Logins, _ = c.Store.(LoginStore)
	}
}

// Validate reports missing required fields.
func (c ServiceConfig) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("service: Store is required"))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("service: Region is required"))
	}
	if c.MaxPageBytes < 0 {
		errs = append(errs, errors.New("service: MaxPageBytes must not be negative"))
	}
	return errors.Join(errs...)
}

// Service implements the Cognito Sync API (SyncAPI) and the Cognito Identity
// subset (IdentityAPI) over a Store: validation, authorization by caller
// class, session and page tokens, and the sync-count rules of spec C. It is
// safe for concurrent use; it holds no data of its own beyond a buffer of
// sync-session counts that FlushUsage writes.
type Service struct {
	c ServiceConfig

	keyOnce sync.Mutex
	key     []byte // HMAC key of SyncSessionTokens, shared through the store

	mu       sync.Mutex
	sessions map[string]int64 // pool -> minted sync sessions not yet flushed; FlushUsage empties it

	events *ttlcache.Cache[string, poolEvents] // pools' Events for SyncTrigger lookups (trigger.go)
	merged *ttlcache.Cache[string, struct{}]   // identities this process disabled or deleted (logins.go)
}

var (
	_ SyncAPI     = (*Service)(nil)
	_ IdentityAPI = (*Service)(nil)
)

// NewService returns a Service.
func NewService(c ServiceConfig) (*Service, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.setDefaults()
	return &Service{c: c, sessions: map[string]int64{}, events: newEventsCache(c.Now),
		merged: ttlcache.New[string, struct{}](ttlcache.Config{Size: 10_000, TTL: mergedTTL, Now: c.Now})}, nil
}

// Run flushes usage counters every interval until ctx ends, then once more.
func (s *Service) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.FlushUsage(context.WithoutCancel(ctx))
		case <-t.C:
			if err := s.FlushUsage(ctx); err != nil {
				s.c.Log.Warn("flush sync session counts", "err", err)
			}
		}
	}
}

// FlushUsage writes the buffered sync-session counts to the store.
func (s *Service) FlushUsage(ctx context.Context) error {
	s.mu.Lock()
	pending := s.sessions
	s.sessions = map[string]int64{}
	s.mu.Unlock()
	var errs []error
	for pool, n := range pending {
		if err := s.c.Store.AddSyncSessions(ctx, pool, n); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
			s.mu.Lock()
			s.sessions[pool] += n
			s.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

func (s *Service) hmacKey(ctx context.Context) ([]byte, error) {
	s.keyOnce.Lock()
	defer s.keyOnce.Unlock()
	if s.key == nil {
		k, err := s.c.Store.Secret(ctx, "sync-session")
		if err != nil {
			return nil, fmt.Errorf("load session secret: %w", err)
		}
		s.key = k
	}
	return s.key, nil
}

// access is the caller class an operation admits (spec A.6).
type access int

const (
	developerOnly access = iota
	identityOnly
	either
)

// authorize checks the caller in ctx against the operation's class and, for
// identity credentials, against the pool and identity the request addresses.
func (s *Service) authorize(ctx context.Context, op string, a access, pool, identity string) (Caller, error) {
	c, ok := CallerFrom(ctx)
	if !ok {
		return Caller{}, Errorf(ErrNotAuthorized, "%s requires authentication", op)
	}
	switch {
	case a == developerOnly && !c.Developer:
		return c, Errorf(ErrNotAuthorized, "%s can only be called with developer credentials", op)
	case a == identityOnly && c.Developer:
		return c, Errorf(ErrNotAuthorized, "%s can only be called with Cognito Identity credentials", op)
	case !c.Developer && (c.PoolID != pool || (identity != "" && c.IdentityID != identity)):
		return c, Errorf(ErrNotAuthorized, "Access to Identity '%s' is forbidden.", identity)
	case s.isMerged(c):
		// Disabled by a merge (spec G.5): the client must switch to the
		// surviving identity.
		return c, Errorf(ErrNotAuthorized, "Identity '%s' is disabled.", c.IdentityID)
	}
	return c, nil
}

// pool loads a pool, turning a missing one into ResourceNotFoundException.
func (s *Service) pool(ctx context.Context, id string) (Pool, error) {
	p, err := s.c.Store.GetPool(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return p, Errorf(ErrNotFound, "IdentityPool '%s' not found.", id)
	}
	return p, err
}

func (s *Service) now() time.Time { return s.c.Now().UTC() }

// errRevoked is what identity credentials get once their pool was deleted
// (or deleted and created again) or their identity is gone, even while a
// cache still holds them: the answer SigV4 verification gives a key the
// store no longer has (sigv4's UnrecognizedClientException, pinned by a
// test), so a client cannot tell which happened.
func errRevoked() error {
	return &AuthError{Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid."}
}

// checkCaller refuses identity credentials whose pool no longer exists or
// is not the pool they were issued in (Caller.PoolGeneration). gen is the
// pool's generation if the caller already read it in its own store access
// (0: read it now). Developer credentials always pass.
func (s *Service) checkCaller(ctx context.Context, c Caller, gen int64) error {
	if c.Developer {
		return nil
	}
	if gen == 0 {
		p, err := s.c.Store.GetPool(ctx, c.PoolID)
		if errors.Is(err, ErrNotFound) {
			return errRevoked()
		}
		if err != nil {
			return fmt.Errorf("check credentials' pool %s: %w", c.PoolID, err)
		}
		gen = p.Generation
	}
	if c.PoolGeneration != 0 && gen != c.PoolGeneration {
		return errRevoked()
	}
	return nil
}

// newGeneration returns a random Pool.Generation.
func newGeneration() int64 {
	var b [8]byte
	rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:])>>2) + 1
}

// ---- datasets and records ----

// ListRecords implements spec C.4 and C.7. A page holds at most
// MaxPageBytes (RecordQuery.MaxBytes) besides maxResults records.
func (s *Service) ListRecords(ctx context.Context, in ListRecordsInput) (ListRecordsOutput, error) {
	if err := validateDatasetPath(in.IdentityPoolID, in.IdentityID, in.DatasetName); err != nil {
		return ListRecordsOutput{}, err
	}
	if err := validateMaxResults(in.MaxResults); err != nil {
		return ListRecordsOutput{}, err
	}
	caller, err := s.authorize(ctx, "ListRecords", either, in.IdentityPoolID, in.IdentityID)
	if err != nil {
		return ListRecordsOutput{}, err
	}
	key, err := s.hmacKey(ctx)
	if err != nil {
		return ListRecordsOutput{}, err
	}
	k := DatasetKey{in.IdentityPoolID, in.IdentityID, in.DatasetName}
	q := RecordQuery{MaxBytes: s.c.MaxPageBytes}
	if in.MaxResults != nil {
		q.Limit = min(int(*in.MaxResults), 1024)
	}
	last := int64(0)
	if in.LastSyncCount != nil {
		last = *in.LastSyncCount
	}
	if last < 0 {
		return ListRecordsOutput{}, invalid("lastSyncCount", "must not be negative")
	}

	var (
		page RecordPage
		cur  recordsCursor
	)
	if in.NextToken != "" {
		// A token is bound to the dataset it was minted for: another
		// dataset's position means nothing here.
		if !openToken(key, in.NextToken, &cur) || cur.Pool != k.PoolID || cur.Identity != k.IdentityID || cur.Dataset != k.Name {
			return ListRecordsOutput{}, invalid("nextToken", "invalid pagination token")
		}
		q.After, q.UpTo = cur.After, cur.Snapshot
		q.Cursor = &RecordCursor{SyncCount: cur.SyncCount, Key: cur.Key}
		page, err = s.c.Store.ListRecords(ctx, k, q)
		if err != nil {
			return ListRecordsOutput{}, fmt.Errorf("list records %s: %w", k, err)
		}
		page.Dataset.SyncCount = cur.Snapshot
	} else {
		q.After = last
		page, err = s.c.Store.ListRecords(ctx, k, q)
		if err != nil {
			return ListRecordsOutput{}, fmt.Errorf("list records %s: %w", k, err)
		}
		st := page.Dataset
		// A deletion at or after the client's last sync, or a tombstone
		// purged after it (the client may have missed the removal): tell
		// it, and send every current record (spec C.8).
		cur.Deleted = last > 0 && ((st.DeletedAt > 0 && st.DeletedAt >= last) || st.PurgedAt > last)
		cur.Exists = st.Exists
		if st.Exists && !cur.Deleted && last > st.SyncCount {
			return ListRecordsOutput{}, invalid("", "No such SyncCount: %d exists for this Dataset", last)
		}
		if !st.Exists {
			page.Records, page.More = nil, false
		} else if cur.Deleted {
			q.After, q.UpTo = 0, st.SyncCount
			gen := page.PoolGeneration
			page, err = s.c.Store.ListRecords(ctx, k, q)
			if err != nil {
				return ListRecordsOutput{}, fmt.Errorf("list records %s: %w", k, err)
			}
			page.Dataset.SyncCount = st.SyncCount
			if page.PoolGeneration != gen {
				page.PoolGeneration = 0 // the reads disagree or one did not tell: checkCaller reads it
			}
		}
		cur.Snapshot = page.Dataset.SyncCount
		if !st.Exists {
			cur.Snapshot = 0 // an absent dataset reports 0 (spec C.4 step 3)
		}
		if cur.Deleted {
			cur.After = 0
		} else {
			cur.After = last
		}
		cur.Pool, cur.Identity, cur.Dataset = k.PoolID, k.IdentityID, k.Name
	}
	if err := s.checkCaller(ctx, caller, page.PoolGeneration); err != nil {
		return ListRecordsOutput{}, err
	}

	out := ListRecordsOutput{
		Records:                               page.Records,
		Count:                                 len(page.Records),
		DatasetSyncCount:                      cur.Snapshot,
		DatasetExists:                         cur.Exists,
		DatasetDeletedAfterRequestedSyncCount: cur.Deleted,
		MergedDatasetNames:                    page.Dataset.MergedNames,
	}
	if out.Records == nil {
		out.Records = []Record{}
	}
	if cur.Exists {
		out.LastModifiedBy = page.Dataset.LastModifiedBy
	}
	if page.More && len(page.Records) > 0 {
		lastRec := page.Records[len(page.Records)-1]
		next := cur
		next.SyncCount, next.Key = lastRec.SyncCount, lastRec.Key
		out.NextToken = signToken(key, next)
		if in.MaxResults == nil && page.NextSyncCount > 0 {
			// Only a dataset beyond the current limits (written before
			// they were lowered) fills more than one page. The iOS client
			// reads one page, without maxResults, and takes
			// DatasetSyncCount as its new sync count: report the count
			// this page is complete up to, so that its next sync goes on
			// from there instead of skipping the rest. Clients that page
			// keep the last page's count, which is the snapshot.
			out.DatasetSyncCount = page.NextSyncCount - 1
		}
	}
	out.SyncSessionToken = s.sessionToken(key, k, in.SyncSessionToken)
	return out, nil
}

// sessionToken returns the client's token if it is still valid for k, else
// mints one and counts a sync session (spec C.3).
func (s *Service) sessionToken(key []byte, k DatasetKey, presented string) string {
	now := s.now()
	if presented != "" {
		var c sessionClaims
		if openToken(key, presented, &c) && c.Pool == k.PoolID && c.Identity == k.IdentityID &&
			c.Dataset == k.Name && !expired(c.Expires, now) {
			return presented
		}
	}
	s.mu.Lock()
	s.sessions[k.PoolID]++
	s.mu.Unlock()
	return signToken(key, sessionClaims{
		Pool: k.PoolID, Identity: k.IdentityID, Dataset: k.Name,
		Session: randomHex(8), Expires: now.Add(s.c.SessionTTL).Unix(),
	})
}

func (s *Service) checkSessionToken(ctx context.Context, k DatasetKey, tok string) error {
	if tok == "" {
		return invalid("SyncSessionToken", "is required")
	}
	key, err := s.hmacKey(ctx)
	if err != nil {
		return err
	}
	var c sessionClaims
	if !openToken(key, tok, &c) || c.Pool != k.PoolID || c.Identity != k.IdentityID ||
		c.Dataset != k.Name || expired(c.Expires, s.now()) {
		return invalid("", "SyncSessionToken not valid for these inputs")
	}
	return nil
}

// UpdateRecords implements spec C.5.
func (s *Service) UpdateRecords(ctx context.Context, in UpdateRecordsInput) (UpdateRecordsOutput, error) {
	if err := validateDatasetPath(in.IdentityPoolID, in.IdentityID, in.DatasetName); err != nil {
		return UpdateRecordsOutput{}, err
	}
	if in.DeviceID != "" {
		if err := checkLen("DeviceId", in.DeviceID, 1, 256); err != nil {
			return UpdateRecordsOutput{}, err
		}
		if err := ValidateText("DeviceId", in.DeviceID); err != nil {
			return UpdateRecordsOutput{}, err
		}
	}
	if err := validatePatches(in.RecordPatches); err != nil {
		return UpdateRecordsOutput{}, err
	}
	caller, err := s.authorize(ctx, "UpdateRecords", either, in.IdentityPoolID, in.IdentityID)
	if err != nil {
		return UpdateRecordsOutput{}, err
	}
	k := DatasetKey{in.IdentityPoolID, in.IdentityID, in.DatasetName}
	if err := s.checkSessionToken(ctx, k, in.SyncSessionToken); err != nil {
		return UpdateRecordsOutput{}, err
	}
	if len(in.RecordPatches) == 0 {
		if err := s.checkCaller(ctx, caller, 0); err != nil {
			return UpdateRecordsOutput{}, err
		}
		return UpdateRecordsOutput{Records: []Record{}}, nil // spec C.5 step 3
	}
	changes := make([]Change, len(in.RecordPatches))
	for i, p := range in.RecordPatches {
		expect := p.SyncCount
		changes[i] = Change{Key: p.Key, Expect: &expect}
		if p.Op == OpReplace {
			changes[i].Value = p.Value
		}
		if p.DeviceLastModifiedDate != nil {
			changes[i].DeviceLastModified = p.DeviceLastModifiedDate.Time
		}
	}
	if !caller.Developer { // spec E.2: only identity writes run the SyncTrigger
		if changes, err = s.triggerChanges(ctx, caller, k, in.RecordPatches, changes); err != nil {
			return UpdateRecordsOutput{}, fmt.Errorf("update records %s: %w", k, err)
		}
		if len(changes) == 0 { // the function left every change out
			return UpdateRecordsOutput{Records: []Record{}}, nil
		}
	}
	// The store checks, in the write's own transaction, that the pool
	// exists and, for identity credentials, that it is the pool they were
	// issued in and that their identity exists: a write racing
	// DeleteIdentityPool either lands before it (and is deleted with the
	// pool) or fails.
	res, err := s.c.Store.UpdateRecords(ctx, UpdateRequest{
		Key: k, Changes: changes, By: caller.Principal(), Now: s.now(), Limits: s.c.Limits,
		PoolGeneration: caller.PoolGeneration, RequireIdentity: !caller.Developer,
		Device: in.DeviceID, // its own change is not pushed to it (spec F.4)
	})
	switch {
	case err == nil:
		return UpdateRecordsOutput{Records: res.Records}, nil
	case errors.Is(err, ErrRevoked), !caller.Developer && errors.Is(err, ErrNotFound):
		return UpdateRecordsOutput{}, errRevoked()
	case errors.Is(err, ErrNotFound):
		return UpdateRecordsOutput{}, Errorf(ErrNotFound, "IdentityPool '%s' not found.", k.PoolID)
	}
	return UpdateRecordsOutput{}, fmt.Errorf("update records %s: %w", k, err)
}

func datasetNotFound(name string) error {
	return Errorf(ErrNotFound, "Dataset '%s' not found.", name)
}

// DeleteDataset implements spec C.8.
func (s *Service) DeleteDataset(ctx context.Context, in DatasetInput) (DatasetOutput, error) {
	if err := validateDatasetPath(in.IdentityPoolID, in.IdentityID, in.DatasetName); err != nil {
		return DatasetOutput{}, err
	}
	if c, err := s.authorize(ctx, "DeleteDataset", either, in.IdentityPoolID, in.IdentityID); err != nil {
		return DatasetOutput{}, err
	} else if err := s.checkCaller(ctx, c, 0); err != nil {
		return DatasetOutput{}, err
	}
	k := DatasetKey{in.IdentityPoolID, in.IdentityID, in.DatasetName}
	d, err := s.c.Store.DeleteDataset(ctx, k)
	if errors.Is(err, ErrNotFound) {
		return DatasetOutput{}, datasetNotFound(k.Name)
	}
	if err != nil {
		return DatasetOutput{}, fmt.Errorf("delete dataset %s: %w", k, err)
	}
	return DatasetOutput{Dataset: d}, nil
}

// DescribeDataset returns a dataset's metadata, or ResourceNotFoundException.
func (s *Service) DescribeDataset(ctx context.Context, in DatasetInput) (DatasetOutput, error) {
	if err := validateDatasetPath(in.IdentityPoolID, in.IdentityID, in.DatasetName); err != nil {
		return DatasetOutput{}, err
	}
	if c, err := s.authorize(ctx, "DescribeDataset", either, in.IdentityPoolID, in.IdentityID); err != nil {
		return DatasetOutput{}, err
	} else if err := s.checkCaller(ctx, c, 0); err != nil {
		return DatasetOutput{}, err
	}
	k := DatasetKey{in.IdentityPoolID, in.IdentityID, in.DatasetName}
	st, err := s.c.Store.GetDataset(ctx, k)
	if err != nil {
		return DatasetOutput{}, fmt.Errorf("describe dataset %s: %w", k, err)
	}
	if !st.Exists {
		return DatasetOutput{}, datasetNotFound(k.Name)
	}
	return DatasetOutput{Dataset: st.Dataset}, nil
}

// ListDatasets lists the identity's live datasets (spec C.9); no maxResults
// means all of them.
func (s *Service) ListDatasets(ctx context.Context, in ListDatasetsInput) (ListDatasetsOutput, error) {
	if err := validateIdentityPath(in.IdentityPoolID, in.IdentityID); err != nil {
		return ListDatasetsOutput{}, err
	}
	if err := validateMaxResults(in.MaxResults); err != nil {
		return ListDatasetsOutput{}, err
	}
	if c, err := s.authorize(ctx, "ListDatasets", either, in.IdentityPoolID, in.IdentityID); err != nil {
		return ListDatasetsOutput{}, err
	} else if err := s.checkCaller(ctx, c, 0); err != nil {
		return ListDatasetsOutput{}, err
	}
	after, err := parseNameToken("nextToken", in.NextToken, ValidateDatasetName)
	if err != nil {
		return ListDatasetsOutput{}, err
	}
	limit := 0
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	ds, err := s.c.Store.ListDatasets(ctx, in.IdentityPoolID, in.IdentityID, after, limitPlusOne(limit))
	if err != nil {
		return ListDatasetsOutput{}, fmt.Errorf("list datasets %s/%s: %w", in.IdentityPoolID, in.IdentityID, err)
	}
	out := ListDatasetsOutput{Datasets: ds}
	if limit > 0 && len(ds) > limit {
		out.Datasets = ds[:limit]
		out.NextToken = nameToken(ds[limit-1].DatasetName)
	}
	if out.Datasets == nil {
		out.Datasets = []Dataset{}
	}
	out.Count = len(out.Datasets)
	return out, nil
}

func limitPlusOne(limit int) int {
	if limit <= 0 {
		return 0
	}
	return limit + 1
}

// DescribeIdentityUsage reports an identity's usage (spec C.9, C.11).
func (s *Service) DescribeIdentityUsage(ctx context.Context, in IdentityInput) (DescribeIdentityUsageOutput, error) {
	if err := validateIdentityPath(in.IdentityPoolID, in.IdentityID); err != nil {
		return DescribeIdentityUsageOutput{}, err
	}
	if c, err := s.authorize(ctx, "DescribeIdentityUsage", either, in.IdentityPoolID, in.IdentityID); err != nil {
		return DescribeIdentityUsageOutput{}, err
	} else if err := s.checkCaller(ctx, c, 0); err != nil {
		return DescribeIdentityUsageOutput{}, err
	}
	u, err := s.c.Store.IdentityUsage(ctx, in.IdentityPoolID, in.IdentityID)
	if err != nil {
		return DescribeIdentityUsageOutput{}, fmt.Errorf("identity usage %s: %w", in.IdentityID, err)
	}
	if u.DatasetCount == 0 {
		// No data: it is only an identity if Cognito Identity knows it.
		id, err := s.c.Store.GetIdentity(ctx, in.IdentityID)
		if errors.Is(err, ErrNotFound) || (err == nil && id.PoolID != in.IdentityPoolID) {
			return DescribeIdentityUsageOutput{}, Errorf(ErrNotFound, "Identity '%s' not found.", in.IdentityID)
		} else if err != nil {
			return DescribeIdentityUsageOutput{}, err
		}
	}
	u.IdentityID, u.IdentityPoolID = in.IdentityID, in.IdentityPoolID
	return DescribeIdentityUsageOutput{IdentityUsage: u}, nil
}

// arnPlatform extracts the platform segment of an SNS application ARN.
func arnPlatform(arn string) string {
	_, rest, ok := strings.Cut(arn, ":app/")
	if !ok {
		return ""
	}
	p, _, _ := strings.Cut(rest, "/")
	return p
}

// RateLimiter bounds how often calls run per key (an identity pool id, a
// client address). Allow reports whether one more call may run now and counts
// it if so. Implementations must be safe for concurrent use and keep bounded
// memory whatever the keys.
type RateLimiter interface {
	Allow(key string) bool
}
