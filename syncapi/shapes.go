package syncapi

// API shapes of Cognito Sync 2014-06-30 (spec A.7, A.8). JSON member names are
// the model's, case-sensitive. Members bound to the path, query string or
// headers carry `json:"-"`; httpapi and the client place them. Members that
// client libraries dereference without null checks have no omitempty (the
// "always-present" rule of spec C.4 and C.9).

// Operation is a RecordPatch operation.
type Operation string

// Record patch operations (lowercase on the wire).
const (
	OpReplace Operation = "replace"
	OpRemove  Operation = "remove"
)

// Dataset is dataset metadata. All members are always present.
type Dataset struct {
	IdentityID       string `json:"IdentityId"`
	DatasetName      string `json:"DatasetName"`
	CreationDate     Time   `json:"CreationDate"`
	LastModifiedDate Time   `json:"LastModifiedDate"`
	LastModifiedBy   string `json:"LastModifiedBy"`
	DataStorage      int64  `json:"DataStorage"`
	NumRecords       int64  `json:"NumRecords"`
}

// Record is one key/value pair. A nil Value is a tombstone (spec C.6).
type Record struct {
	Key                    string  `json:"Key"`
	Value                  *string `json:"Value,omitempty"`
	SyncCount              int64   `json:"SyncCount"`
	LastModifiedDate       Time    `json:"LastModifiedDate,omitzero"`
	LastModifiedBy         string  `json:"LastModifiedBy,omitempty"`
	DeviceLastModifiedDate Time    `json:"DeviceLastModifiedDate,omitzero"`
}

// RecordPatch is one change requested by UpdateRecords.
type RecordPatch struct {
	Op                     Operation `json:"Op"`
	Key                    string    `json:"Key"`
	Value                  *string   `json:"Value,omitempty"`
	SyncCount              int64     `json:"SyncCount"`
	DeviceLastModifiedDate *Time     `json:"DeviceLastModifiedDate,omitempty"`
}

// IdentityPoolUsage is usage of one identity pool.
type IdentityPoolUsage struct {
	IdentityPoolID    string `json:"IdentityPoolId"`
	SyncSessionsCount int64  `json:"SyncSessionsCount"`
	DataStorage       int64  `json:"DataStorage"`
	LastModifiedDate  Time   `json:"LastModifiedDate,omitzero"`
}

// IdentityUsage is usage of one identity.
type IdentityUsage struct {
	IdentityID       string `json:"IdentityId"`
	IdentityPoolID   string `json:"IdentityPoolId"`
	LastModifiedDate Time   `json:"LastModifiedDate,omitzero"`
	DatasetCount     int    `json:"DatasetCount"`
	DataStorage      int64  `json:"DataStorage"`
}

// PushSync is the push-sync configuration of a pool.
type PushSync struct {
	ApplicationArns []string `json:"ApplicationArns,omitempty"`
	RoleArn         string   `json:"RoleArn,omitempty"`
}

// Streaming statuses.
const (
	StreamingEnabled  = "ENABLED"
	StreamingDisabled = "DISABLED"
)

// CognitoStreams is the stream configuration of a pool.
type CognitoStreams struct {
	StreamName      string `json:"StreamName,omitempty"`
	RoleArn         string `json:"RoleArn,omitempty"`
	StreamingStatus string `json:"StreamingStatus,omitempty"`
	DisabledReason  string `json:"DisabledReason,omitempty"`
}

// Bulk publish statuses.
const (
	BulkNotStarted = "NOT_STARTED"
	BulkInProgress = "IN_PROGRESS"
	BulkFailed     = "FAILED"
	BulkSucceeded  = "SUCCEEDED"
)

// EventSyncTrigger is the only Cognito event type (spec E.1).
const EventSyncTrigger = "SyncTrigger"

// ---- operation inputs and outputs ----

// PoolInput addresses an identity pool; used by every pool-level operation
// without other members (BulkPublish, DescribeIdentityPoolUsage,
// GetBulkPublishDetails, GetCognitoEvents, GetIdentityPoolConfiguration).
type PoolInput struct {
	IdentityPoolID string `json:"-"`
}

// IdentityInput addresses an identity (DescribeIdentityUsage).
type IdentityInput struct {
	IdentityPoolID string `json:"-"`
	IdentityID     string `json:"-"`
}

// DatasetInput addresses a dataset (DeleteDataset, DescribeDataset).
type DatasetInput struct {
	IdentityPoolID string `json:"-"`
	IdentityID     string `json:"-"`
	DatasetName    string `json:"-"`
}

// BulkPublishOutput is BulkPublish's response.
type BulkPublishOutput struct {
	IdentityPoolID string `json:"IdentityPoolId"`
}

// DatasetOutput is the response of DeleteDataset and DescribeDataset.
type DatasetOutput struct {
	Dataset Dataset `json:"Dataset"`
}

// DescribeIdentityPoolUsageOutput is DescribeIdentityPoolUsage's response.
type DescribeIdentityPoolUsageOutput struct {
	IdentityPoolUsage IdentityPoolUsage `json:"IdentityPoolUsage"`
}

// DescribeIdentityUsageOutput is DescribeIdentityUsage's response.
type DescribeIdentityUsageOutput struct {
	IdentityUsage IdentityUsage `json:"IdentityUsage"`
}

// GetBulkPublishDetailsOutput is GetBulkPublishDetails' response.
type GetBulkPublishDetailsOutput struct {
	IdentityPoolID          string `json:"IdentityPoolId"`
	BulkPublishStartTime    Time   `json:"BulkPublishStartTime,omitzero"`
	BulkPublishCompleteTime Time   `json:"BulkPublishCompleteTime,omitzero"`
	BulkPublishStatus       string `json:"BulkPublishStatus"`
	FailureMessage          string `json:"FailureMessage,omitempty"`
}

// CognitoEventsOutput is GetCognitoEvents' response; Events is never null.
type CognitoEventsOutput struct {
	Events map[string]string `json:"Events"`
}

// SetCognitoEventsInput is SetCognitoEvents' request.
type SetCognitoEventsInput struct {
	IdentityPoolID string            `json:"-"`
	Events         map[string]string `json:"Events"`
}

// PoolConfiguration is the request of SetIdentityPoolConfiguration and the
// response of both configuration operations.
type PoolConfiguration struct {
	IdentityPoolID string          `json:"IdentityPoolId,omitempty"`
	PushSync       *PushSync       `json:"PushSync,omitempty"`
	CognitoStreams *CognitoStreams `json:"CognitoStreams,omitempty"`
}

// ListDatasetsInput is ListDatasets' request (nextToken, maxResults in the query).
type ListDatasetsInput struct {
	IdentityPoolID string `json:"-"`
	IdentityID     string `json:"-"`
	NextToken      string `json:"-"`
	MaxResults     *int32 `json:"-"`
}

// ListDatasetsOutput is ListDatasets' response.
type ListDatasetsOutput struct {
	Datasets  []Dataset `json:"Datasets"`
	Count     int       `json:"Count"`
	NextToken string    `json:"NextToken,omitempty"`
}

// ListIdentityPoolUsageInput is ListIdentityPoolUsage's request.
type ListIdentityPoolUsageInput struct {
	NextToken  string `json:"-"`
	MaxResults *int32 `json:"-"`
}

// ListIdentityPoolUsageOutput is ListIdentityPoolUsage's response.
type ListIdentityPoolUsageOutput struct {
	IdentityPoolUsages []IdentityPoolUsage `json:"IdentityPoolUsages"`
	MaxResults         int                 `json:"MaxResults"`
	Count              int                 `json:"Count"`
	NextToken          string              `json:"NextToken,omitempty"`
}

// ListRecordsInput is ListRecords' request; all members but the path are query
// parameters.
type ListRecordsInput struct {
	IdentityPoolID   string `json:"-"`
	IdentityID       string `json:"-"`
	DatasetName      string `json:"-"`
	LastSyncCount    *int64 `json:"-"`
	NextToken        string `json:"-"`
	MaxResults       *int32 `json:"-"`
	SyncSessionToken string `json:"-"`
}

// ListRecordsOutput is ListRecords' response. Records, Count,
// DatasetSyncCount, DatasetExists, DatasetDeletedAfterRequestedSyncCount and
// SyncSessionToken are always present (spec C.4 step 6).
type ListRecordsOutput struct {
	Records                               []Record `json:"Records"`
	NextToken                             string   `json:"NextToken,omitempty"`
	Count                                 int      `json:"Count"`
	DatasetSyncCount                      int64    `json:"DatasetSyncCount"`
	LastModifiedBy                        string   `json:"LastModifiedBy,omitempty"`
	MergedDatasetNames                    []string `json:"MergedDatasetNames,omitempty"`
	DatasetExists                         bool     `json:"DatasetExists"`
	DatasetDeletedAfterRequestedSyncCount bool     `json:"DatasetDeletedAfterRequestedSyncCount"`
	SyncSessionToken                      string   `json:"SyncSessionToken"`
}

// RegisterDeviceInput is RegisterDevice's request.
type RegisterDeviceInput struct {
	IdentityPoolID string `json:"-"`
	IdentityID     string `json:"-"`
	Platform       string `json:"Platform"`
	Token          string `json:"Token"`
}

// RegisterDeviceOutput is RegisterDevice's response.
type RegisterDeviceOutput struct {
	DeviceID string `json:"DeviceId"`
}

// SubscriptionInput is the request of SubscribeToDataset and
// UnsubscribeFromDataset (all path members); both answer {}.
type SubscriptionInput struct {
	IdentityPoolID string `json:"-"`
	IdentityID     string `json:"-"`
	DatasetName    string `json:"-"`
	DeviceID       string `json:"-"`
}

// Empty is the {} output of SubscribeToDataset, UnsubscribeFromDataset and
// SetCognitoEvents.
type Empty struct{}

// UpdateRecordsInput is UpdateRecords' request. ClientContext comes from the
// x-amz-Client-Context header and is accepted and ignored (spec C.12).
type UpdateRecordsInput struct {
	IdentityPoolID   string        `json:"-"`
	IdentityID       string        `json:"-"`
	DatasetName      string        `json:"-"`
	ClientContext    string        `json:"-"`
	DeviceID         string        `json:"DeviceId,omitempty"`
	RecordPatches    []RecordPatch `json:"RecordPatches,omitempty"`
	SyncSessionToken string        `json:"SyncSessionToken"`
}

// UpdateRecordsOutput is UpdateRecords' response; Records is never null.
type UpdateRecordsOutput struct {
	Records []Record `json:"Records"`
}
