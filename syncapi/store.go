package syncapi

import (
	"context"
	"time"
)

// DatasetKey addresses one dataset.
type DatasetKey struct {
	PoolID, IdentityID, Name string
}

func (k DatasetKey) String() string { return k.PoolID + "/" + k.IdentityID + "/" + k.Name }

// Pool is an identity pool with its Cognito Sync configuration.
type Pool struct {
	Identity       IdentityPool      // Cognito Identity attributes; Identity.IdentityPoolID is the key
	PushSync       *PushSync         // nil: not configured
	CognitoStreams *CognitoStreams   // nil: not configured
	Events         map[string]string // event type -> Lambda ARN
	Created        time.Time
	// Generation tells this pool apart from an earlier pool with the same
	// id that was deleted: a random positive number chosen at creation
	// (CreatePool chooses one when it is 0) that never changes.
	Generation int64
}

// ID returns the pool id.
func (p Pool) ID() string { return p.Identity.IdentityPoolID }

// Identity is a Cognito identity of a pool.
type Identity struct {
	PoolID, ID string
	Disabled   bool
	Created    time.Time
}

// Credential is a key pair the SigV4 verifier accepts: developer keys from
// configuration, or temporary identity credentials issued by
// GetCredentialsForIdentity (SessionToken set, Expires set, bound to one
// identity).
type Credential struct {
	AccessKeyID  string
	Secret       string
	SessionToken string
	Expires      time.Time // zero: never
	Caller       Caller
}

// DatasetState is a dataset as ListRecords and UpdateRecords see it.
type DatasetState struct {
	Dataset
	Exists    bool
	SyncCount int64 // DatasetSyncCount; never decreases, even across deletion (spec C.2)
	DeletedAt int64 // sync count at the latest DeleteDataset; 0: never deleted
	// PurgedAt is the highest SyncCount of a tombstone the store dropped to
	// keep the dataset within its limits (0: none). A device that last
	// synced before it may have missed a removal, so ListRecords tells it
	// to refresh the whole dataset, as after a deletion.
	PurgedAt    int64
	MergedNames []string
}

// Change is one write UpdateRecords applies. Value nil removes the key
// (tombstone). Expect, when set, is the SyncCount the stored record must have
// (0: key never written) or the whole update fails with *ConflictError; see
// ExpectMatches for a key the store holds no row of.
//
// A removal of a key the store holds no row of (it never existed, or its
// tombstone was purged) stores nothing: no device can hold a value of it
// that it must learn to delete. Its result record has SyncCount 0, the
// count the key has on the server, so that a client that writes the key
// again sends 0 (the Android client re-uses a record's last count).
type Change struct {
	Key                string
	Value              *string
	Expect             *int64
	DeviceLastModified time.Time // zero: the commit time
}

// Limits are the per-identity and per-dataset quotas (spec B.2).
//
// MaxRecords and MaxDatasetBytes bound live records, as AWS counts them
// (NumRecords, DataStorage). Tombstones get an allowance of their own of the
// same size: at most MaxRecords tombstones whose keys total at most
// MaxDatasetBytes; beyond it the store drops the oldest tombstones and
// raises DatasetState.PurgedAt. So a dataset never holds more than twice its
// limits, whatever a client sends, and a dataset whose keys come and go
// never fills up with removals.
type Limits struct {
	MaxDatasets     int   // live datasets per identity; default 20
	MaxRecords      int64 // live records per dataset; default 1024
	MaxDatasetBytes int64 // Σ UTF-8 bytes of live keys and values; default 1 MiB
}

// DefaultLimits are AWS's quotas.
var DefaultLimits = Limits{MaxDatasets: 20, MaxRecords: 1024, MaxDatasetBytes: 1 << 20}

// UpdateRequest is one atomic UpdateRecords. The store serialises it with
// every other writer of the dataset, checks every Expect before writing
// anything, enforces Limits, assigns SyncCount = DatasetSyncCount+1 to every
// written record and commits durably before returning.
//
// The pool must exist when the update commits (checked, and locked against
// DeletePool, in its transaction): ErrNotFound otherwise. PoolGeneration,
// when not 0, must be the pool's generation, and with RequireIdentity the
// identity must exist in the pool; either failing is ErrRevoked. Identity
// callers set both, so that cached credentials of a deleted pool or a
// collected identity never write.
type UpdateRequest struct {
	Key             DatasetKey
	Changes         []Change
	By              string // LastModifiedBy
	Now             time.Time
	Limits          Limits
	PoolGeneration  int64
	RequireIdentity bool

	// Device is the DeviceId the writer named (UpdateRecords' body): a
	// store with a PushQueue queues a notification for every device
	// subscribed to the dataset but this one (spec F.4). "": none.
	Device string
}

// UpdateResult is the outcome of a committed UpdateRequest.
type UpdateResult struct {
	// Records are the changes as applied, in Changes order; tombstones
	// have nil Value, a removal that stored nothing has SyncCount 0.
	Records []Record
	Dataset DatasetState
	Created bool // the dataset did not exist before
}

// ExpectMatches reports whether a change's Expect agrees with the stored
// state of its key: the record's SyncCount when the store holds a row of
// it, else 0 or any count up to the dataset's PurgedAt (the key may have
// had a tombstone that was purged since; a client that saw it re-sends its
// count, and no newer state of the key exists to overwrite).
func ExpectMatches(expect, stored int64, found bool, purgedAt int64) bool {
	if found {
		return expect == stored
	}
	return expect == 0 || (expect > 0 && expect <= purgedAt)
}

// RecordQuery selects records of one dataset for ListRecords: those with
// After < SyncCount <= UpTo, ordered by (SyncCount, Key), starting strictly
// after Cursor when it is set.
//
// MaxBytes, when not 0, also ends the page before the record that would
// take the page's size past it (a page holds at least one record); a
// record's size is RecordSize.
type RecordQuery struct {
	After    int64
	UpTo     int64 // 0: the dataset's current sync count (a fresh snapshot)
	Cursor   *RecordCursor
	Limit    int // 0: no limit
	MaxBytes int64
}

// RecordOverhead is what a record adds to a ListRecords response beside its
// key and value (member names, counts, dates, LastModifiedBy), rounded up.
const RecordOverhead = 200

// RecordSize is a record's share of a page's byte budget: the UTF-8 bytes
// of its key and value plus RecordOverhead.
func RecordSize(key string, value *string) int64 {
	n := int64(len(key)) + RecordOverhead
	if value != nil {
		n += int64(len(*value))
	}
	return n
}

// RecordCursor is the position of the last record of a page.
type RecordCursor struct {
	SyncCount int64
	Key       string
}

// RecordPage is one page of records and the dataset state it was read with.
type RecordPage struct {
	Dataset DatasetState
	Records []Record
	More    bool
	// NextSyncCount is, when More, the SyncCount of the first record not
	// returned: the page holds every selected record below it.
	NextSyncCount int64
	// PoolGeneration is the pool's generation read in the same snapshot
	// when the store could do so at no cost (the dataset exists); 0 means
	// unknown, not "no pool".
	PoolGeneration int64
}

// BulkJob is the bulk publish state of a pool.
type BulkJob struct {
	Status         string // NOT_STARTED if never requested
	Started        time.Time
	Completed      time.Time
	FailureMessage string
	Owner          string // process that runs it
}

// Store persists everything syncd serves. Every method is safe for
// concurrent use, also by several processes sharing one database. Methods
// return ErrNotFound (wrapped) for a missing pool, identity, dataset, device
// or subscription, as each documents, and an error wrapping ErrUnavailable
// when the database cannot be reached or cannot commit (disk full): a
// transient failure after which nothing changed.
//
// Strings a store keeps (keys, values, tokens, device ids) must be valid
// UTF-8 without NUL (ValidateText); a store refuses others with
// *ValidationError, so that every store answers the same.
//
// Nothing of a deleted pool survives or reappears: writes below a pool
// (identities, credentials, datasets, devices, subscriptions) check, in
// their own transaction, that the pool exists, serialised with DeletePool.
type Store interface {
	// Pools. CreatePool returns ErrConflict if the id exists; it chooses
	// p.Generation when it is 0.
	CreatePool(ctx context.Context, p Pool) error
	GetPool(ctx context.Context, id string) (Pool, error)
	ListPools(ctx context.Context, after string, limit int) ([]Pool, error)
	// UpdatePool reads the pool, calls fn and stores what fn left, in one
	// transaction serialised with other UpdatePool calls on the pool.
	UpdatePool(ctx context.Context, id string, fn func(*Pool) error) (Pool, error)
	// DeletePool deletes the pool and everything below it.
	DeletePool(ctx context.Context, id string) error

	// Identities and issued credentials. PutCredential of identity
	// credentials returns ErrNotFound unless their identity exists in
	// their pool and the pool's generation is c.Caller.PoolGeneration;
	// LookupCredential returns the caller with that generation.
	CreateIdentity(ctx context.Context, id Identity) error
	GetIdentity(ctx context.Context, identityID string) (Identity, error)
	PutCredential(ctx context.Context, c Credential) error
	LookupCredential(ctx context.Context, accessKeyID string) (Credential, error)

	// Datasets and records.
	GetDataset(ctx context.Context, k DatasetKey) (DatasetState, error) // missing: Exists false, no error
	ListDatasets(ctx context.Context, poolID, identityID, after string, limit int) ([]Dataset, error)
	ListRecords(ctx context.Context, k DatasetKey, q RecordQuery) (RecordPage, error)
	UpdateRecords(ctx context.Context, r UpdateRequest) (UpdateResult, error)
	// DeleteDataset removes the dataset's records and marks it deleted,
	// remembering its sync count; ErrNotFound if it does not exist.
	DeleteDataset(ctx context.Context, k DatasetKey) (Dataset, error)

	// Usage.
	IdentityUsage(ctx context.Context, poolID, identityID string) (IdentityUsage, error)
	PoolUsage(ctx context.Context, poolID string) (IdentityPoolUsage, error)
	AddSyncSessions(ctx context.Context, poolID string, n int64) error

	// Push devices and dataset subscriptions.
	// RegisterDevice returns the existing id for a known (identity, platform,
	// token), else stores newID.
	RegisterDevice(ctx context.Context, poolID, identityID, platform, token, newID string) (string, error)
	DeviceExists(ctx context.Context, poolID, identityID, deviceID string) (bool, error)
	Subscribe(ctx context.Context, k DatasetKey, deviceID string) error
	Unsubscribe(ctx context.Context, k DatasetKey, deviceID string) error // ErrNotFound if not subscribed

	// Bulk publish state. StartBulk moves the pool's job to IN_PROGRESS owned
	// by owner if none is in progress (else ErrDuplicateRequest) and no
	// success completed after notBefore (else ErrAlreadyStreamed).
	GetBulk(ctx context.Context, poolID string) (BulkJob, error)
	StartBulk(ctx context.Context, poolID, owner string, now, notBefore time.Time) error
	FinishBulk(ctx context.Context, poolID string, status, failure string, now time.Time) error

	// Secret returns a random secret shared by every process on this store,
	// creating it on first use (session-token and page-token HMAC keys).
	Secret(ctx context.Context, name string) ([]byte, error)

	Close() error
}

// ---- Cognito Streams outbox and bulk publish (spec D) ----

// OutboxEntry is one committed change of a streaming pool waiting to be
// published (spec D.2): the records one UpdateRecords wrote, or a
// DeleteDataset (Deleted set, no records).
type OutboxEntry struct {
	ID        int64 // store-assigned, increasing in commit order per dataset
	Key       DatasetKey
	Stream    string // the pool's StreamName at commit time
	Deleted   bool
	SyncCount int64     // DatasetSyncCount after the change
	Modified  time.Time // dataset LastModifiedDate of the change
	Records   []Record  // written records in request order; tombstones have nil Value
	Created   time.Time // commit time, for the outbox age metric
}

// Outbox is the transactional outbox of Cognito Streams, implemented by
// stores that support streaming (found by type assertion on a Store).
//
// Contract: UpdateRecords (and DeleteDataset) write one entry in the same
// transaction as the change iff the pool's CognitoStreams.StreamingStatus is
// ENABLED when the transaction reads the pool row, so an acknowledged change
// of a streaming pool is never lost. Entries stay until AckOutbox deletes
// them: there is no read cursor, so an entry that commits late (a lower ID
// becoming visible after a higher one was read, possible on PostgreSQL) is
// simply found by the next PendingOutbox. Entries of one dataset commit in
// ID order.
type Outbox interface {
	// PendingOutbox returns up to limit entries, lowest ID first.
	PendingOutbox(ctx context.Context, limit int) ([]OutboxEntry, error)
	// AckOutbox deletes entries; unknown IDs are ignored.
	AckOutbox(ctx context.Context, ids []int64) error
	// OutboxStats reports the number of entries and the commit time of the
	// oldest (zero when empty).
	OutboxStats(ctx context.Context) (n int64, oldest time.Time, err error)
}

// Leases are named, expiring locks shared by every process on the store: the
// outbox forwarder and each bulk publish job hold one, so that only one
// process works on it and a dead holder is replaced when its lease expires.
type Leases interface {
	// AcquireLease takes or renews the lease name for owner until now+ttl.
	// It returns false, without error, when another owner holds an
	// unexpired lease. data is stored with the lease (e.g. progress) when
	// the lease is granted; LeaseData reads it back.
	AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration, data string) (bool, error)
	// ReleaseLease gives up the lease if owner holds it.
	ReleaseLease(ctx context.Context, name, owner string) error
	// LeaseData returns the lease's owner, expiry and data; found false if
	// the lease never existed.
	LeaseData(ctx context.Context, name string) (owner string, expires time.Time, data string, found bool, err error)
}

// BulkDataset is one live dataset of a pool with all its live records, as
// bulk publish streams it (spec D.3).
type BulkDataset struct {
	Key       DatasetKey
	SyncCount int64
	Modified  time.Time
	Records   []Record // live records ordered by Key
}

// BulkSource reads what bulk publish needs.
type BulkSource interface {
	// BulkDatasets returns up to limit live datasets of the pool ordered by
	// (IdentityID, Name), strictly after the cursor (IdentityID, Name) of
	// after (zero: from the start), each with its live records.
	BulkDatasets(ctx context.Context, poolID string, after DatasetKey, limit int) ([]BulkDataset, error)
	// BulkInProgress lists the pools whose bulk job is IN_PROGRESS, with the
	// owner that started it.
	BulkInProgress(ctx context.Context) (map[string]BulkJob, error)
}
