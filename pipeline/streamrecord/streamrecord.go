// Package streamrecord encodes and decodes Cognito Streams records, the JSON
// documents Amazon Cognito Sync writes to a Kinesis stream for every
// synchronization (spec D.2).
//
// Encode emits the documented shape: dates as epoch milliseconds, the dataset
// name as "dataSetName", the changed records inline (payloadType "Inline") or,
// for an update too large for one Kinesis record, behind a pre-signed S3 URL
// (payloadType "S3Url", kinesisSyncRecords omitted). Decode also accepts what
// AWS's own consumer sample binds ("datasetName") and fetches S3Url payloads
// through an injected Getter.
package streamrecord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Operations and payload types of spec D.2.
const (
	OpReplace = "replace"
	OpRemove  = "remove"

	PayloadInline = "Inline"
	PayloadS3URL  = "S3Url"
)

// Record is one Cognito stream record: one synchronization of one dataset.
type Record struct {
	IdentityPoolID string
	IdentityID     string
	DatasetName    string
	Operation      string // OpReplace if any record was replaced, else OpRemove
	// Records are the records written by the synchronization. Nil with an
	// empty RecordsURL: a record without data (e.g. a dataset deletion).
	Records          []SyncRecord
	LastModifiedDate time.Time // dataset modification time, millisecond precision
	SyncCount        int64     // dataset sync count after the change
	// PayloadType is PayloadInline or PayloadS3URL. Encode derives it from
	// RecordsURL when empty.
	PayloadType string
	RecordsURL  string // kinesisSyncRecordsURL; set with PayloadS3URL
}

// SyncRecord is one element of kinesisSyncRecords.
type SyncRecord struct {
	Key                    string
	Value                  *string // nil for op remove
	SyncCount              int64
	LastModifiedDate       time.Time
	DeviceLastModifiedDate time.Time
	Op                     string
}

// Operation returns the stream record's operation for records: replace if
// any record was replaced, else remove (spec D.2, inferred for mixed updates).
func Operation(records []SyncRecord) string {
	for _, r := range records {
		if r.Op == OpReplace {
			return OpReplace
		}
	}
	return OpRemove
}

// wire is the JSON shape of a Record. Field order follows the documented
// sample (encoding/json keeps struct order).
type wire struct {
	IdentityPoolID     string      `json:"identityPoolId"`
	IdentityID         string      `json:"identityId"`
	DataSetName        string      `json:"dataSetName"`
	DatasetName        string      `json:"datasetName,omitempty"` // decode only: AWS's consumer sample spelling
	Operation          string      `json:"operation"`
	KinesisSyncRecords *[]wireSync `json:"kinesisSyncRecords,omitempty"`
	LastModifiedDate   int64       `json:"lastModifiedDate"`
	RecordsURL         string      `json:"kinesisSyncRecordsURL,omitempty"`
	PayloadType        string      `json:"payloadType"`
	SyncCount          int64       `json:"syncCount"`
}

type wireSync struct {
	Key                    string  `json:"key"`
	Value                  *string `json:"value,omitempty"`
	SyncCount              int64   `json:"syncCount"`
	LastModifiedDate       int64   `json:"lastModifiedDate"`
	DeviceLastModifiedDate int64   `json:"deviceLastModifiedDate"`
	Op                     string  `json:"op"`
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func toWireSync(rs []SyncRecord) []wireSync {
	out := make([]wireSync, len(rs))
	for i, r := range rs {
		out[i] = wireSync{Key: r.Key, Value: r.Value, SyncCount: r.SyncCount,
			LastModifiedDate: millis(r.LastModifiedDate), DeviceLastModifiedDate: millis(r.DeviceLastModifiedDate), Op: r.Op}
		if r.Op == OpRemove {
			out[i].Value = nil
		}
	}
	return out
}

func fromWireSync(ws []wireSync) []SyncRecord {
	out := make([]SyncRecord, len(ws))
	for i, w := range ws {
		out[i] = SyncRecord{Key: w.Key, Value: w.Value, SyncCount: w.SyncCount,
			LastModifiedDate: fromMillis(w.LastModifiedDate), DeviceLastModifiedDate: fromMillis(w.DeviceLastModifiedDate), Op: w.Op}
	}
	return out
}

// Encode returns the JSON of r (spec D.2). With PayloadS3URL (or a
// RecordsURL and no PayloadType) it writes kinesisSyncRecordsURL and omits
// kinesisSyncRecords; otherwise it writes the records inline (an empty
// array when there are none).
func Encode(r Record) ([]byte, error) {
	w := wire{
		IdentityPoolID: r.IdentityPoolID, IdentityID: r.IdentityID, DataSetName: r.DatasetName,
		Operation: r.Operation, LastModifiedDate: millis(r.LastModifiedDate), SyncCount: r.SyncCount,
		PayloadType: r.PayloadType,
	}
	if w.Operation == "" {
		w.Operation = Operation(r.Records)
	}
	if w.PayloadType == "" {
		w.PayloadType = PayloadInline
		if r.RecordsURL != "" {
			w.PayloadType = PayloadS3URL
		}
	}
	switch w.PayloadType {
	case PayloadInline:
		ws := toWireSync(r.Records)
		w.KinesisSyncRecords = &ws
	case PayloadS3URL:
		if r.RecordsURL == "" {
			return nil, errors.New("encode stream record: payloadType S3Url without a URL")
		}
		w.RecordsURL = r.RecordsURL
	default:
		return nil, fmt.Errorf("encode stream record: unknown payloadType %q", w.PayloadType)
	}
	return json.Marshal(w)
}

// EncodeRecords returns the JSON array of records that an S3Url payload's
// object holds (AWS's consumer parses it as a list of kinesisSyncRecords
// elements).
func EncodeRecords(records []SyncRecord) ([]byte, error) {
	return json.Marshal(toWireSync(records))
}

// Getter fetches a URL; *http.Client implements it.
type Getter interface {
	Do(*http.Request) (*http.Response, error)
}

// Decoder decodes stream records. The zero value decodes inline records only;
// set Getter to fetch S3Url payloads.
type Decoder struct {
	Getter  Getter // nil: S3Url payloads are an error
	MaxBody int64  // limit of a fetched payload; 0: 64 MiB
}

// Decode parses one stream record. It accepts "dataSetName" (documented) and
// "datasetName" (AWS's consumer sample). An S3Url payload keeps its URL in
// RecordsURL and, with a Getter, gets its records fetched into Records.
func (d Decoder) Decode(ctx context.Context, data []byte) (Record, error) {
	var w wire
	if err := json.Unmarshal(data, &w); err != nil {
		return Record{}, fmt.Errorf("decode stream record: %w", err)
	}
	r := Record{
		IdentityPoolID: w.IdentityPoolID, IdentityID: w.IdentityID, DatasetName: w.DataSetName,
		Operation: w.Operation, LastModifiedDate: fromMillis(w.LastModifiedDate), SyncCount: w.SyncCount,
		PayloadType: w.PayloadType, RecordsURL: w.RecordsURL,
	}
	if r.DatasetName == "" {
		r.DatasetName = w.DatasetName
	}
	if w.KinesisSyncRecords != nil {
		r.Records = fromWireSync(*w.KinesisSyncRecords)
	}
	if r.PayloadType == "" {
		r.PayloadType = PayloadInline
		if r.RecordsURL != "" {
			r.PayloadType = PayloadS3URL
		}
	}
	if r.PayloadType == PayloadS3URL && r.RecordsURL != "" && w.KinesisSyncRecords == nil && d.Getter != nil {
		recs, err := d.fetch(ctx, r.RecordsURL)
		if err != nil {
			return r, fmt.Errorf("decode stream record %s/%s: %w", r.IdentityID, r.DatasetName, err)
		}
		r.Records = recs
	}
	return r, nil
}

// Decode decodes with the zero Decoder (no S3 fetch).
func Decode(data []byte) (Record, error) { return Decoder{}.Decode(context.Background(), data) }

func (d Decoder) fetch(ctx context.Context, url string) ([]SyncRecord, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch records: %w", err)
	}
	resp, err := d.Getter.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch records: %w", err)
	}
	defer resp.Body.Close()
	max := d.MaxBody
	if max <= 0 {
		max = 64 << 20
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("fetch records: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch records: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body[:min(len(body), 256)]))
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("fetch records: payload larger than %d bytes", max)
	}
	var ws []wireSync
	if err := json.Unmarshal(body, &ws); err != nil {
		return nil, fmt.Errorf("fetch records: %w", err)
	}
	return fromWireSync(ws), nil
}
