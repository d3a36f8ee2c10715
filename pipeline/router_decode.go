package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/cognitosync/cognitosync/pipeline/streamrecord"
)

// Decoder turns the payload of one stream message into the changes it
// carries. An error makes the message poison (moved aside with the error as
// its reason) unless it is Transient, which the router retries with backoff
// up to RouterConfig.DecodeAttempts first (e.g. fetching an S3Url payload
// failed). A nil, empty result means nothing to write: the message is
// acknowledged. A dataset deletion decodes to one Change with
// DatasetDeleted set.
type Decoder func(ctx context.Context, payload []byte) ([]Change, error)

// transientError marks an error worth retrying.
type transientError struct{ err error }

func (e transientError) Error() string   { return e.err.Error() }
func (e transientError) Unwrap() error   { return e.err }
func (e transientError) Temporary() bool { return true }

// Transient marks err as worth retrying (see Decoder). Transient(nil) is nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return transientError{err}
}

// IsTransient reports whether err, or an error it wraps, has a Temporary()
// bool method that returns true.
func IsTransient(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// StreamRecordDecoder decodes Cognito stream records (spec D.2) with
// pipeline/streamrecord. With a Getter (an *http.Client) it fetches S3Url
// payloads; a failed fetch is Transient. A record without identityPoolId,
// identityId or dataset name, or a record element without key, is an error:
// a sink could not address it.
func StreamRecordDecoder(get streamrecord.Getter) Decoder {
	return func(ctx context.Context, payload []byte) ([]Change, error) {
		// Parse without fetching first, so a malformed document is told
		// apart from a failed fetch.
		r, err := streamrecord.Decode(payload)
		if err != nil {
			return nil, err
		}
		if r.IdentityPoolID == "" || r.IdentityID == "" || r.DatasetName == "" {
			return nil, fmt.Errorf("stream record without identityPoolId, identityId or dataSetName")
		}
		if r.PayloadType == streamrecord.PayloadS3URL && r.Records == nil {
			if get == nil {
				return nil, fmt.Errorf("stream record %s/%s has an S3Url payload and no HTTP client is configured to fetch it", r.IdentityID, r.DatasetName)
			}
			if r, err = (streamrecord.Decoder{Getter: get}).Decode(ctx, payload); err != nil {
				return nil, Transient(err)
			}
		}
		if len(r.Records) == 0 && r.Operation == streamrecord.OpRemove {
			// A DeleteDataset: one change for the sinks that apply
			// deletions (DatasetDeletionSink); the others never see it.
			return []Change{{
				IdentityPoolID: r.IdentityPoolID, IdentityID: r.IdentityID, DatasetName: r.DatasetName,
				Op: OpRemove, DatasetDeleted: true, DatasetSyncCount: r.SyncCount, LastModified: r.LastModifiedDate,
			}}, nil
		}
		out := make([]Change, 0, len(r.Records))
		for i, s := range r.Records {
			if s.Key == "" {
				return nil, fmt.Errorf("stream record %s/%s: kinesisSyncRecords[%d] has no key", r.IdentityID, r.DatasetName, i)
			}
			op := Op(s.Op)
			switch {
			case op == OpReplace || op == OpRemove:
			case s.Op == "" && s.Value == nil:
				op = OpRemove
			case s.Op == "":
				op = OpReplace
			default:
				return nil, fmt.Errorf("stream record %s/%s: kinesisSyncRecords[%d] has op %q", r.IdentityID, r.DatasetName, i, s.Op)
			}
			v := s.Value
			if op == OpRemove {
				v = nil
			}
			out = append(out, Change{
				IdentityPoolID: r.IdentityPoolID, IdentityID: r.IdentityID, DatasetName: r.DatasetName,
				Key: s.Key, Value: v, Op: op, SyncCount: s.SyncCount,
				LastModified: s.LastModifiedDate, DeviceLastModified: s.DeviceLastModifiedDate,
				DatasetSyncCount: r.SyncCount,
			})
		}
		return out, nil
	}
}
