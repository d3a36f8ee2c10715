package syncapi

import "context"

// BulkRunner runs bulk publish jobs (spec D.3) for the Service; it
// lives outside this package (pipeline/outbox) because it needs a stream.
type BulkRunner interface {
	// RunBulk starts publishing every live dataset of pool, whose job the
	// store has just moved to IN_PROGRESS for this process. It returns at
	// once and runs the job asynchronously; the job ends with
	// Store.FinishBulk. An error means the job did not start: the Service
	// then records it FAILED with the error's message.
	RunBulk(ctx context.Context, pool Pool) error
}
