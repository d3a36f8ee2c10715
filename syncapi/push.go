package syncapi

import (
	"context"
	"time"
)

// ApplicationArn returns the pool's PushSync application ARN of platform
// (the ARN's "app/<PLATFORM>/" segment, spec F.1); "" when none matches or
// push sync is not configured.
func ApplicationArn(p Pool, platform string) string {
	if p.PushSync == nil {
		return ""
	}
	for _, a := range p.PushSync.ApplicationArns {
		if arnPlatform(a) == platform {
			return a
		}
	}
	return ""
}

// ---- Push sync queue (spec F.4) ----

// PushEntry is one pending push notification: a device subscribed to a
// dataset that changed, with the device as registered.
type PushEntry struct {
	Key       DatasetKey
	DeviceID  string
	Platform  string // APNS, APNS_SANDBOX, GCM or ADM
	Token     string
	Endpoint  string // SNS platform endpoint ARN kept with the device; "": none yet
	SyncCount int64  // the dataset's sync count after the latest change of the burst
	// Version grows with every change coalesced into the entry; AckPush
	// deletes the entry only while it still has the version that was sent.
	Version  int64
	Attempts int       // failed deliveries so far
	Created  time.Time // commit time of the burst's first change
}

// PushQueue is the transactional queue of push notifications, implemented
// by stores that support push sync (found by type assertion on a Store).
//
// Contract: UpdateRecords that wrote a record and DeleteDataset queue, in
// the same transaction as the change, one entry per device subscribed to
// the dataset (UpdateRecords: except UpdateRequest.Device). An entry of the
// same device and dataset that is still queued is not duplicated: it takes
// the higher sync count, a new Version, and keeps its Created, so a burst
// of changes becomes one notification carrying the latest count.
type PushQueue interface {
	// DuePush returns up to limit entries created at or before
	// createdBefore whose retry time is not after now, oldest first. An
	// entry whose device no longer exists has an empty Platform.
	DuePush(ctx context.Context, createdBefore, now time.Time, limit int) ([]PushEntry, error)
	// AckPush marks e delivered: it deletes the entry if its version is
	// still e.Version; otherwise a change came in meanwhile, and the entry
	// stays, its window restarted at now and its attempts cleared.
	AckPush(ctx context.Context, e PushEntry, now time.Time) error
	// RetryPush records a failed delivery of e: attempts+1, not due before
	// at.
	RetryPush(ctx context.Context, e PushEntry, at time.Time) error
	// DropPush deletes e whatever its version (undeliverable).
	DropPush(ctx context.Context, e PushEntry) error
	// PushStats reports the number of queued entries and the oldest
	// Created (zero when empty).
	PushStats(ctx context.Context) (n int64, oldest time.Time, err error)
	// UnregisterDevice deletes the device, its subscriptions and its queued
	// entries (a token the push service reported dead). Unknown devices
	// are ignored.
	UnregisterDevice(ctx context.Context, poolID, identityID, deviceID string) error
	// SetDeviceEndpoint keeps the push service's endpoint (an SNS platform
	// endpoint ARN) with the device; unknown devices are ignored.
	SetDeviceEndpoint(ctx context.Context, poolID, identityID, deviceID, endpoint string) error
}
