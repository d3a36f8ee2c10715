package syncapi

import (
	"context"
	"time"
)

// ImportRequest puts one dataset's records into a store as another Cognito
// Sync (the source) holds them: with the source's SyncCounts and dates, so
// that devices that synced with the source continue against this store.
//
// Records are applied key by key, never backwards: a record replaces the
// stored one only when its SyncCount is higher, or equal and the request
// is Authoritative. A record at or below the dataset's DeletedAt (it was
// deleted with the dataset) is skipped. Tombstones (nil Value) are kept as
// tombstones. The dataset's sync count becomes the highest of its own, the
// request's DatasetSyncCount and the records'.
type ImportRequest struct {
	Key     DatasetKey
	Records []Record // each with the source's SyncCount, dates and LastModifiedBy
	// DatasetSyncCount is the source's DatasetSyncCount (0: unknown; the
	// records' highest count stands in).
	DatasetSyncCount int64
	// Dataset metadata of the source at DatasetSyncCount; zero fields are
	// unknown. LastModifiedDate and LastModifiedBy replace the stored ones
	// when DatasetSyncCount is not below the stored count; CreationDate
	// replaces the stored one when Authoritative or when the dataset is
	// created by this request.
	CreationDate     time.Time
	LastModifiedDate time.Time
	LastModifiedBy   string
	// Authoritative says the request was read from the source's own API
	// (ListRecords, ListDatasets), so a record at the stored SyncCount is
	// overwritten with it: the stream does not carry LastModifiedBy, the
	// API does.
	Authoritative bool
	// IdentityCreated is the identity's creation time when the request
	// creates it; zero: Now.
	IdentityCreated time.Time
	// Now stands in for missing dates; zero: the current time.
	Now time.Time
}

// ImportResult says what an ImportRecords changed.
type ImportResult struct {
	Applied int // records written
	Skipped int // records the store had at that or a later SyncCount, or deleted
	Dataset DatasetState
}

// Importer is implemented by stores that can take a pool's data from
// another Cognito Sync with its ids and counts (found by type assertion on
// a Store). Every method is idempotent and safe for concurrent use, also
// with UpdateRecords and DeleteDataset of the same datasets; it never
// writes the outbox (the changes are not new, the source streamed them).
// The pool must exist (ErrNotFound otherwise); a missing identity is
// created in it.
type Importer interface {
	// ImportRecords applies r (see ImportRequest).
	ImportRecords(ctx context.Context, r ImportRequest) (ImportResult, error)
	// ImportDatasetDeletion applies a DeleteDataset the source made when
	// the dataset's sync count was syncCount: records with SyncCount up
	// to it are gone, DeletedAt becomes at least syncCount, and the dataset
	// is deleted (as DeleteDataset leaves it) unless it holds records
	// written after the deletion. A deletion at or below the stored
	// DeletedAt changes nothing. The dataset need not exist. The store
	// keeps at (the deletion's time) with DeletedAt.
	ImportDatasetDeletion(ctx context.Context, k DatasetKey, syncCount int64, at time.Time) (DatasetState, error)
	// ImportState returns the progress note of the pool's import; "" when
	// there is none. DeletePool removes it with the pool.
	ImportState(ctx context.Context, poolID string) (string, error)
	// SetImportState stores the progress note of the pool's import.
	SetImportState(ctx context.Context, poolID, state string) error
}
