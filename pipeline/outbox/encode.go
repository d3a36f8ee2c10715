package outbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cognitosync/cognitosync/pipeline/kinesis"
	"github.com/cognitosync/cognitosync/pipeline/stream"
	"github.com/cognitosync/cognitosync/pipeline/streamrecord"
	"github.com/cognitosync/cognitosync/syncapi"
)

// DefaultMaxRecordBytes is Kinesis' record size limit (data plus partition
// key): larger stream records go to S3.
const DefaultMaxRecordBytes = kinesis.MaxRecordSize

// ErrTooLarge is returned for a stream record larger than the limit when no
// Offloader is configured.
var ErrTooLarge = errors.New("outbox: stream record too large for one Kinesis record and no S3 bucket is configured")

// Offloader stores the records of a large update and returns a URL a
// consumer can GET them from.
type Offloader interface {
	Offload(ctx context.Context, key string, body []byte) (url string, err error)
}

// encoder turns changes into Watermill messages carrying stream records.
type encoder struct {
	offload  Offloader // nil: no offload
	maxBytes int       // < 0: unlimited
}

func syncRecords(rs []syncapi.Record) []streamrecord.SyncRecord {
	out := make([]streamrecord.SyncRecord, len(rs))
	for i, r := range rs {
		op := streamrecord.OpReplace
		if r.Value == nil {
			op = streamrecord.OpRemove
		}
		out[i] = streamrecord.SyncRecord{Key: r.Key, Value: r.Value, SyncCount: r.SyncCount,
			LastModifiedDate: r.LastModifiedDate.Time, DeviceLastModifiedDate: r.DeviceLastModifiedDate.Time, Op: op}
	}
	return out
}

// entryRecord is the stream record of an outbox entry. A deletion is
// operation remove without records (spec D.2 allows it; AWS's consumer
// sample handles records that carry neither records nor a URL).
func entryRecord(e syncapi.OutboxEntry) streamrecord.Record {
	r := streamrecord.Record{IdentityPoolID: e.Key.PoolID, IdentityID: e.Key.IdentityID, DatasetName: e.Key.Name,
		Records: syncRecords(e.Records), LastModifiedDate: e.Modified, SyncCount: e.SyncCount}
	r.Operation = streamrecord.Operation(r.Records)
	return r
}

// datasetRecord is the bulk publish record of a dataset: all live records,
// operation replace (spec D.3).
func datasetRecord(d syncapi.BulkDataset) streamrecord.Record {
	return streamrecord.Record{IdentityPoolID: d.Key.PoolID, IdentityID: d.Key.IdentityID, DatasetName: d.Key.Name,
		Operation: streamrecord.OpReplace, Records: syncRecords(d.Records), LastModifiedDate: d.Modified, SyncCount: d.SyncCount}
}

// message encodes r; when it exceeds the limit it uploads the records
// under objectKey and sends the URL instead.
func (e encoder) message(ctx context.Context, r streamrecord.Record, objectKey string) (*message.Message, error) {
	data, err := streamrecord.Encode(r)
	if err != nil {
		return nil, err
	}
	if e.maxBytes >= 0 && len(data)+len(r.IdentityID) > e.maxBytes {
		if e.offload == nil {
			return nil, fmt.Errorf("%s/%s sync count %d (%d bytes): %w", r.IdentityID, r.DatasetName, r.SyncCount, len(data), ErrTooLarge)
		}
		body, err := streamrecord.EncodeRecords(r.Records)
		if err != nil {
			return nil, err
		}
		url, err := e.offload.Offload(ctx, objectKey, body)
		if err != nil {
			return nil, fmt.Errorf("offload %s: %w", objectKey, err)
		}
		r.Records, r.RecordsURL, r.PayloadType = nil, url, streamrecord.PayloadS3URL
		if data, err = streamrecord.Encode(r); err != nil {
			return nil, err
		}
	}
	m := message.NewMessage(watermill.NewUUID(), data)
	m.Metadata.Set(stream.MetadataPartitionKey, r.IdentityID)
	m.SetContext(ctx)
	return m, nil
}
