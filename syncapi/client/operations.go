package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/cognitosync/cognitosync/syncapi"
)

// The 17 operations of spec A.7. Each returns the decoded output or an error
// as described on Client.

// BulkPublish starts a bulk publish of the pool's data to its stream
// (developer credentials).
func (c *Client) BulkPublish(ctx context.Context, in syncapi.PoolInput) (syncapi.BulkPublishOutput, error) {
	var out syncapi.BulkPublishOutput
	err := c.invoke(ctx, call{op: "BulkPublish", labels: poolLabels(in.IdentityPoolID)}, &out)
	return out, err
}

// DeleteDataset deletes a dataset and returns it as it was.
func (c *Client) DeleteDataset(ctx context.Context, in syncapi.DatasetInput) (syncapi.DatasetOutput, error) {
	var out syncapi.DatasetOutput
	err := c.invoke(ctx, call{op: "DeleteDataset", labels: datasetLabels(in.IdentityPoolID, in.IdentityID, in.DatasetName)}, &out)
	return out, err
}

// DescribeDataset returns a dataset's metadata.
func (c *Client) DescribeDataset(ctx context.Context, in syncapi.DatasetInput) (syncapi.DatasetOutput, error) {
	var out syncapi.DatasetOutput
	err := c.invoke(ctx, call{op: "DescribeDataset", labels: datasetLabels(in.IdentityPoolID, in.IdentityID, in.DatasetName)}, &out)
	return out, err
}

// DescribeIdentityPoolUsage returns a pool's usage (developer credentials).
func (c *Client) DescribeIdentityPoolUsage(ctx context.Context, in syncapi.PoolInput) (syncapi.DescribeIdentityPoolUsageOutput, error) {
	var out syncapi.DescribeIdentityPoolUsageOutput
	err := c.invoke(ctx, call{op: "DescribeIdentityPoolUsage", labels: poolLabels(in.IdentityPoolID)}, &out)
	return out, err
}

// DescribeIdentityUsage returns an identity's usage.
func (c *Client) DescribeIdentityUsage(ctx context.Context, in syncapi.IdentityInput) (syncapi.DescribeIdentityUsageOutput, error) {
	var out syncapi.DescribeIdentityUsageOutput
	err := c.invoke(ctx, call{op: "DescribeIdentityUsage", labels: identityLabels(in.IdentityPoolID, in.IdentityID)}, &out)
	return out, err
}

// GetBulkPublishDetails returns the status of the pool's last bulk publish
// (developer credentials).
func (c *Client) GetBulkPublishDetails(ctx context.Context, in syncapi.PoolInput) (syncapi.GetBulkPublishDetailsOutput, error) {
	var out syncapi.GetBulkPublishDetailsOutput
	err := c.invoke(ctx, call{op: "GetBulkPublishDetails", labels: poolLabels(in.IdentityPoolID)}, &out)
	return out, err
}

// GetCognitoEvents returns the pool's event-to-Lambda map (developer
// credentials).
func (c *Client) GetCognitoEvents(ctx context.Context, in syncapi.PoolInput) (syncapi.CognitoEventsOutput, error) {
	var out syncapi.CognitoEventsOutput
	err := c.invoke(ctx, call{op: "GetCognitoEvents", labels: poolLabels(in.IdentityPoolID)}, &out)
	return out, err
}

// GetIdentityPoolConfiguration returns the pool's push-sync and stream
// configuration (developer credentials).
func (c *Client) GetIdentityPoolConfiguration(ctx context.Context, in syncapi.PoolInput) (syncapi.PoolConfiguration, error) {
	var out syncapi.PoolConfiguration
	err := c.invoke(ctx, call{op: "GetIdentityPoolConfiguration", labels: poolLabels(in.IdentityPoolID)}, &out)
	return out, err
}

// ListDatasets returns one page of an identity's datasets; see
// ListDatasetsPaginator and ListDatasetsAll for every page.
func (c *Client) ListDatasets(ctx context.Context, in syncapi.ListDatasetsInput) (syncapi.ListDatasetsOutput, error) {
	var out syncapi.ListDatasetsOutput
	err := c.invoke(ctx, call{
		op:     "ListDatasets",
		labels: identityLabels(in.IdentityPoolID, in.IdentityID),
		query:  pageQuery(in.NextToken, in.MaxResults),
	}, &out)
	return out, err
}

// ListIdentityPoolUsage returns one page of pool usages (developer
// credentials); see ListIdentityPoolUsagePaginator for every page.
func (c *Client) ListIdentityPoolUsage(ctx context.Context, in syncapi.ListIdentityPoolUsageInput) (syncapi.ListIdentityPoolUsageOutput, error) {
	var out syncapi.ListIdentityPoolUsageOutput
	err := c.invoke(ctx, call{op: "ListIdentityPoolUsage", query: pageQuery(in.NextToken, in.MaxResults)}, &out)
	return out, err
}

// ListRecords returns one page of the records changed after LastSyncCount,
// tombstones included; see ListRecordsAll for every page.
func (c *Client) ListRecords(ctx context.Context, in syncapi.ListRecordsInput) (syncapi.ListRecordsOutput, error) {
	q := pageQuery(in.NextToken, in.MaxResults)
	if in.LastSyncCount != nil {
		q = setQuery(q, "lastSyncCount", strconv.FormatInt(*in.LastSyncCount, 10))
	}
	if in.SyncSessionToken != "" {
		q = setQuery(q, "syncSessionToken", in.SyncSessionToken)
	}
	var out syncapi.ListRecordsOutput
	err := c.invoke(ctx, call{
		op:     "ListRecords",
		labels: datasetLabels(in.IdentityPoolID, in.IdentityID, in.DatasetName),
		query:  q,
	}, &out)
	return out, err
}

// RegisterDevice registers a push token for an identity and returns the
// device id (Cognito Identity credentials).
func (c *Client) RegisterDevice(ctx context.Context, in syncapi.RegisterDeviceInput) (syncapi.RegisterDeviceOutput, error) {
	var out syncapi.RegisterDeviceOutput
	err := c.invoke(ctx, call{op: "RegisterDevice", labels: identityLabels(in.IdentityPoolID, in.IdentityID), body: in}, &out)
	return out, err
}

// SetCognitoEvents replaces the pool's event-to-Lambda map (developer
// credentials).
func (c *Client) SetCognitoEvents(ctx context.Context, in syncapi.SetCognitoEventsInput) error {
	return c.invoke(ctx, call{op: "SetCognitoEvents", labels: poolLabels(in.IdentityPoolID), body: in}, nil)
}

// SetIdentityPoolConfiguration sets the pool's push-sync and stream
// configuration (developer credentials). IdentityPoolID goes in the path
// only, as the model binds it.
func (c *Client) SetIdentityPoolConfiguration(ctx context.Context, in syncapi.PoolConfiguration) (syncapi.PoolConfiguration, error) {
	body := struct {
		PushSync       *syncapi.PushSync       `json:"PushSync,omitempty"`
		CognitoStreams *syncapi.CognitoStreams `json:"CognitoStreams,omitempty"`
	}{in.PushSync, in.CognitoStreams}
	var out syncapi.PoolConfiguration
	err := c.invoke(ctx, call{op: "SetIdentityPoolConfiguration", labels: poolLabels(in.IdentityPoolID), body: body}, &out)
	return out, err
}

// SubscribeToDataset subscribes a registered device to a dataset's changes
// (Cognito Identity credentials).
func (c *Client) SubscribeToDataset(ctx context.Context, in syncapi.SubscriptionInput) error {
	return c.invoke(ctx, call{op: "SubscribeToDataset", labels: subscriptionLabels(in)}, nil)
}

// UnsubscribeFromDataset removes a device's subscription to a dataset
// (Cognito Identity credentials).
func (c *Client) UnsubscribeFromDataset(ctx context.Context, in syncapi.SubscriptionInput) error {
	return c.invoke(ctx, call{op: "UnsubscribeFromDataset", labels: subscriptionLabels(in)}, nil)
}

// UpdateRecords applies record patches with the SyncSessionToken of an
// earlier ListRecords. A stale SyncCount is an *APIError with code
// ResourceConflictException (errors.Is syncapi.ErrConflict), whose Message
// names the key and counts. ClientContext travels in x-amz-Client-Context.
func (c *Client) UpdateRecords(ctx context.Context, in syncapi.UpdateRecordsInput) (syncapi.UpdateRecordsOutput, error) {
	var h http.Header
	if in.ClientContext != "" {
		h = http.Header{}
		h.Set("X-Amz-Client-Context", in.ClientContext)
	}
	var out syncapi.UpdateRecordsOutput
	err := c.invoke(ctx, call{
		op:     "UpdateRecords",
		labels: datasetLabels(in.IdentityPoolID, in.IdentityID, in.DatasetName),
		header: h,
		body:   in,
	}, &out)
	return out, err
}

func poolLabels(pool string) map[string]string {
	return map[string]string{"IdentityPoolId": pool}
}

func identityLabels(pool, identity string) map[string]string {
	return map[string]string{"IdentityPoolId": pool, "IdentityId": identity}
}

func datasetLabels(pool, identity, dataset string) map[string]string {
	return map[string]string{"IdentityPoolId": pool, "IdentityId": identity, "DatasetName": dataset}
}

func subscriptionLabels(in syncapi.SubscriptionInput) map[string]string {
	m := datasetLabels(in.IdentityPoolID, in.IdentityID, in.DatasetName)
	m["DeviceId"] = in.DeviceID
	return m
}

// pageQuery sets nextToken and maxResults when they are set.
func pageQuery(next string, max *int32) url.Values {
	var q url.Values
	if next != "" {
		q = setQuery(q, "nextToken", next)
	}
	if max != nil {
		q = setQuery(q, "maxResults", strconv.FormatInt(int64(*max), 10))
	}
	return q
}

func setQuery(q url.Values, k, v string) url.Values {
	if q == nil {
		q = url.Values{}
	}
	q.Set(k, v)
	return q
}
