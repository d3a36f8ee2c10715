// Package changejson is the JSON form of a pipeline.Change, written by the
// jsonl, webhook and watermill sinks, and the idempotency key and message
// UUID derived from a change.
//
// Field names follow the Cognito stream record (spec D.2): camelCase, times
// as RFC 3339 strings in UTC with nanoseconds (time.RFC3339Nano), a zero time
// omitted, and a remove's value null. A dataset deletion has an empty
// "key", op "remove", "datasetDeleted": true and the dataset's sync count
// at deletion in "syncCount" and "datasetSyncCount"; a receiver removes
// every record of the dataset with a syncCount at or below it.
//
//	{"id":"<64 hex>","identityPoolId":"us-east-1:…","identityId":"us-east-1:…",
//	 "datasetName":"settings","key":"volume","value":"11","op":"replace",
//	 "syncCount":3,"lastModified":"2026-01-02T03:04:05.123Z",
//	 "deviceLastModified":"2026-01-02T03:04:05Z","datasetSyncCount":7}
package changejson

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/cognitosync/cognitosync/pipeline"
)

// Change is the JSON object of one pipeline.Change.
type Change struct {
	// ID is IdempotencyKey(the change's ChangeKey): equal for every delivery
	// of the same change, so receivers dedupe on it.
	ID                 string     `json:"id"`
	IdentityPoolID     string     `json:"identityPoolId"`
	IdentityID         string     `json:"identityId"`
	DatasetName        string     `json:"datasetName"`
	Key                string     `json:"key"`
	Value              *string    `json:"value"`
	Op                 string     `json:"op"`
	SyncCount          int64      `json:"syncCount"`
	LastModified       *time.Time `json:"lastModified,omitempty"`
	DeviceLastModified *time.Time `json:"deviceLastModified,omitempty"`
	DatasetSyncCount   int64      `json:"datasetSyncCount"`
	// DatasetDeleted marks a dataset deletion (pipeline.Change.DatasetDeleted).
	DatasetDeleted bool `json:"datasetDeleted,omitempty"`
}

// From converts a change to its JSON form; times are converted to UTC.
func From(c pipeline.Change) Change {
	return Change{
		ID:                 IdempotencyKey(c.ID()),
		IdentityPoolID:     c.IdentityPoolID,
		IdentityID:         c.IdentityID,
		DatasetName:        c.DatasetName,
		Key:                c.Key,
		Value:              c.Value,
		Op:                 string(c.Op),
		SyncCount:          c.SyncCount,
		LastModified:       timePtr(c.LastModified),
		DeviceLastModified: timePtr(c.DeviceLastModified),
		DatasetSyncCount:   c.DatasetSyncCount,
		DatasetDeleted:     c.DatasetDeleted,
	}
}

// FromBatch converts a batch.
func FromBatch(batch []pipeline.Change) []Change {
	out := make([]Change, len(batch))
	for i, c := range batch {
		out[i] = From(c)
	}
	return out
}

// Pipeline converts back. It fails when a required field is missing, the op
// is unknown, or ID is set and does not match the other fields (a corrupted
// or hand-edited line).
func (j Change) Pipeline() (pipeline.Change, error) {
	c := pipeline.Change{
		IdentityPoolID:   j.IdentityPoolID,
		IdentityID:       j.IdentityID,
		DatasetName:      j.DatasetName,
		Key:              j.Key,
		Value:            j.Value,
		Op:               pipeline.Op(j.Op),
		SyncCount:        j.SyncCount,
		DatasetSyncCount: j.DatasetSyncCount,
		DatasetDeleted:   j.DatasetDeleted,
	}
	if j.LastModified != nil {
		c.LastModified = *j.LastModified
	}
	if j.DeviceLastModified != nil {
		c.DeviceLastModified = *j.DeviceLastModified
	}
	var errs []error
	switch {
	case c.IdentityPoolID == "" || c.IdentityID == "" || c.DatasetName == "":
		errs = append(errs, errors.New("identityPoolId, identityId and datasetName are required"))
	case c.DatasetDeleted && (c.Key != "" || c.Op != pipeline.OpRemove || c.Value != nil):
		errs = append(errs, errors.New("a dataset deletion has no key and no value and op remove"))
	case !c.DatasetDeleted && c.Key == "":
		errs = append(errs, errors.New("key is required"))
	}
	if c.Op != pipeline.OpReplace && c.Op != pipeline.OpRemove {
		errs = append(errs, fmt.Errorf("unknown op %q", j.Op))
	}
	if j.ID != "" && j.ID != IdempotencyKey(c.ID()) {
		errs = append(errs, fmt.Errorf("id %s does not match the change", j.ID))
	}
	if err := errors.Join(errs...); err != nil {
		return pipeline.Change{}, fmt.Errorf("changejson: %w", err)
	}
	return c, nil
}

// IdempotencyKey is the string form of a ChangeKey: the lowercase hex
// SHA-256 of the canonical encoding (the JSON array [identityPoolId,
// identityId, datasetName, key, syncCount]; JSON escaping makes it
// unambiguous whatever characters a record key holds). It fits an HTTP
// header or a broker's message ID.
func IdempotencyKey(k pipeline.ChangeKey) string {
	sum := sha256.Sum256(canonical(k))
	return hex.EncodeToString(sum[:])
}

// namespace is the UUIDv5 namespace of change UUIDs (a fixed random UUID).
var namespace = uuid.MustParse("6f1c3b0e-2a57-4c0e-9d8b-5b0f6c9e4a21")

// UUID is a name-based (version 5) UUID of a ChangeKey: the same change
// always gets the same UUID, so a broker that dedupes on message IDs (NATS
// JetStream's Nats-Msg-Id, for one) drops replays.
func UUID(k pipeline.ChangeKey) string {
	return uuid.NewSHA1(namespace, canonical(k)).String()
}

// canonical is json.Marshal([]any{pool, identity, dataset, key,
// syncCount}), built without reflection (the same bytes).
func canonical(k pipeline.ChangeKey) []byte {
	b := make([]byte, 0, 16+len(k.IdentityPoolID)+len(k.IdentityID)+len(k.DatasetName)+len(k.Key)+20)
	b = append(b, '[')
	for _, s := range []string{k.IdentityPoolID, k.IdentityID, k.DatasetName, k.Key} {
		b = appendString(b, s, true)
		b = append(b, ',')
	}
	b = strconv.AppendInt(b, k.SyncCount, 10)
	return append(b, ']')
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
