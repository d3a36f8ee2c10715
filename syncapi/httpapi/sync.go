package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/cognitosync/cognitosync/syncapi"
)

// Path labels of the Cognito Sync model (spec A.7).
const (
	labelPool     = "IdentityPoolId"
	labelIdentity = "IdentityId"
	labelDataset  = "DatasetName"
	labelDevice   = "DeviceId"
)

// Query and header members (spec A.3).
const (
	queryLastSyncCount    = "lastSyncCount"
	queryMaxResults       = "maxResults"
	queryNextToken        = "nextToken"
	querySyncSessionToken = "syncSessionToken"
	headerClientContext   = "X-Amz-Client-Context"
)

// syncRequest is the decoded HTTP request of one Cognito Sync operation.
type syncRequest struct {
	labels map[string]string
	query  url.Values
	header http.Header
	body   []byte // nil for GET and DELETE: their bodies are ignored
}

// syncOp decodes the input of one operation, calls it and returns the output
// to encode.
type syncOp func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error)

func (h *handler) serveSync(w http.ResponseWriter, r *http.Request, x *exchange) (any, error) {
	op, labels, err := h.router.match(r.Method, r.URL.EscapedPath())
	if err != nil {
		return nil, err
	}
	x.op, x.pool = op.Name, labels[labelPool]
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &syncapi.ValidationError{Reason: "malformed query string"}
	}
	// The body is read for every method: SigV4 signs its hash.
	ctx, body, err := h.authenticate(w, r, x, SyncSigningName)
	if err != nil {
		return nil, err
	}
	req := &syncRequest{labels: labels, query: q, header: r.Header}
	if r.Method != http.MethodGet && r.Method != http.MethodDelete {
		req.body = body
	}
	return syncOps[op.Name](ctx, h.sync, req)
}

func (q *syncRequest) pool() syncapi.PoolInput {
	return syncapi.PoolInput{IdentityPoolID: q.labels[labelPool]}
}

func (q *syncRequest) identity() syncapi.IdentityInput {
	return syncapi.IdentityInput{IdentityPoolID: q.labels[labelPool], IdentityID: q.labels[labelIdentity]}
}

func (q *syncRequest) dataset() syncapi.DatasetInput {
	return syncapi.DatasetInput{IdentityPoolID: q.labels[labelPool], IdentityID: q.labels[labelIdentity],
		DatasetName: q.labels[labelDataset]}
}

func (q *syncRequest) subscription() syncapi.SubscriptionInput {
	return syncapi.SubscriptionInput{IdentityPoolID: q.labels[labelPool], IdentityID: q.labels[labelIdentity],
		DatasetName: q.labels[labelDataset], DeviceID: q.labels[labelDevice]}
}

// int64Query parses a decimal long query member; absent or empty is nil.
// A malformed value is InvalidParameterException (spec A.3).
func (q *syncRequest) int64Query(name string) (*int64, error) {
	v := q.query.Get(name)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, &syncapi.ValidationError{Field: name, Reason: "must be a 64-bit decimal integer, got " + strconv.Quote(sanitize(v))}
	}
	return &n, nil
}

// int32Query parses a decimal integer query member; absent or empty is nil.
func (q *syncRequest) int32Query(name string) (*int32, error) {
	v := q.query.Get(name)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return nil, &syncapi.ValidationError{Field: name, Reason: "must be a 32-bit decimal integer, got " + strconv.Quote(sanitize(v))}
	}
	n32 := int32(n)
	return &n32, nil
}

// empty is the {} output of SetCognitoEvents, SubscribeToDataset and
// UnsubscribeFromDataset.
var empty = syncapi.Empty{}

// syncOps has one entry per Operations row. Outputs whose lists or maps
// clients dereference are normalized to [] / {} here, whatever the
// implementation returned (always-present rule, spec C.4, C.9).
var syncOps = map[string]syncOp{
	"BulkPublish": func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error) {
		return api.BulkPublish(ctx, q.pool())
	},
	"DeleteDataset": func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error) {
		return api.DeleteDataset(ctx, q.dataset())
	},
	"DescribeDataset": func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error) {
		return api.DescribeDataset(ctx, q.dataset())
	},
	"DescribeIdentityPoolUsage": func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error) {
		return api.DescribeIdentityPoolUsage(ctx, q.pool())
	},
	"DescribeIdentityUsage": func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error) {
		return api.DescribeIdentityUsage(ctx, q.identity())
	},
	"GetBulkPublishDetails": func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error) {
		return api.GetBulkPublishDetails(ctx, q.pool())
	},
	"GetCognitoEvents": func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error) {
		out, err := api.GetCognitoEvents(ctx, q.pool())
		if out.Events == nil {
			out.Events = map[string]string{}
		}
		return out, err
	},
	"GetIdentityPoolConfiguration": func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error) {
		return api.GetIdentityPoolConfiguration(ctx, q.pool())
	},
	"ListDatasets": func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error) {
		in := syncapi.ListDatasetsInput{IdentityPoolID: q.labels[labelPool], IdentityID: q.labels[labelIdentity],
			NextToken: q.query.Get(queryNextToken)}
		var err error
		if in.MaxResults, err = q.int32Query(queryMaxResults); err != nil {
			return nil, err
		}
		out, err := api.ListDatasets(ctx, in)
		if out.Datasets == nil {
			out.Datasets = []syncapi.Dataset{}
		}
		return out, err
	},
	"ListIdentityPoolUsage": func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error) {
		in := syncapi.ListIdentityPoolUsageInput{NextToken: q.query.Get(queryNextToken)}
		var err error
		if in.MaxResults, err = q.int32Query(queryMaxResults); err != nil {
			return nil, err
		}
		out, err := api.ListIdentityPoolUsage(ctx, in)
		if out.IdentityPoolUsages == nil {
			out.IdentityPoolUsages = []syncapi.IdentityPoolUsage{}
		}
		return out, err
	},
	"ListRecords": func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error) {
		d := q.dataset()
		in := syncapi.ListRecordsInput{IdentityPoolID: d.IdentityPoolID, IdentityID: d.IdentityID,
			DatasetName: d.DatasetName, NextToken: q.query.Get(queryNextToken),
			SyncSessionToken: q.query.Get(querySyncSessionToken)}
		var err error
		if in.LastSyncCount, err = q.int64Query(queryLastSyncCount); err != nil {
			return nil, err
		}
		if in.MaxResults, err = q.int32Query(queryMaxResults); err != nil {
			return nil, err
		}
		out, err := api.ListRecords(ctx, in)
		if out.Records == nil {
			out.Records = []syncapi.Record{}
		}
		return out, err
	},
	"RegisterDevice": func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error) {
		var in syncapi.RegisterDeviceInput
		if err := decodeBody(q.body, &in); err != nil {
			return nil, err
		}
		in.IdentityPoolID, in.IdentityID = q.labels[labelPool], q.labels[labelIdentity]
		return api.RegisterDevice(ctx, in)
	},
	"SetCognitoEvents": func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error) {
		var in syncapi.SetCognitoEventsInput
		if err := decodeBody(q.body, &in); err != nil {
			return nil, err
		}
		in.IdentityPoolID = q.labels[labelPool]
		return empty, api.SetCognitoEvents(ctx, in)
	},
	"SetIdentityPoolConfiguration": func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error) {
		var in syncapi.PoolConfiguration
		if err := decodeBody(q.body, &in); err != nil {
			return nil, err
		}
		// PoolConfiguration doubles as the output shape, so IdentityPoolId is
		// a JSON member; the path label wins over anything in the body.
		in.IdentityPoolID = q.labels[labelPool]
		return api.SetIdentityPoolConfiguration(ctx, in)
	},
	"SubscribeToDataset": func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error) {
		return empty, api.SubscribeToDataset(ctx, q.subscription())
	},
	"UnsubscribeFromDataset": func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error) {
		return empty, api.UnsubscribeFromDataset(ctx, q.subscription())
	},
	"UpdateRecords": func(ctx context.Context, api syncapi.SyncAPI, q *syncRequest) (any, error) {
		var in syncapi.UpdateRecordsInput
		if err := decodeBody(q.body, &in); err != nil {
			return nil, err
		}
		d := q.dataset()
		in.IdentityPoolID, in.IdentityID, in.DatasetName = d.IdentityPoolID, d.IdentityID, d.DatasetName
		in.ClientContext = q.header.Get(headerClientContext)
		out, err := api.UpdateRecords(ctx, in)
		if out.Records == nil {
			out.Records = []syncapi.Record{}
		}
		return out, err
	},
}
