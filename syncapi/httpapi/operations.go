package httpapi

// Operation is the HTTP binding of one Cognito Sync operation (spec A.7).
// Path templates use the model's label names; a label is one path segment.
type Operation struct {
	Name   string
	Method string
	Path   string
}

// Operations are the 17 Cognito Sync operations, as the AWS model binds them.
// The server router and the client both read this table.
var Operations = []Operation{
	{"BulkPublish", "POST", "/identitypools/{IdentityPoolId}/bulkpublish"},
	{"DeleteDataset", "DELETE", "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}"},
	{"DescribeDataset", "GET", "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}"},
	{"DescribeIdentityPoolUsage", "GET", "/identitypools/{IdentityPoolId}"},
	{"DescribeIdentityUsage", "GET", "/identitypools/{IdentityPoolId}/identities/{IdentityId}"},
	{"GetBulkPublishDetails", "POST", "/identitypools/{IdentityPoolId}/getBulkPublishDetails"},
	{"GetCognitoEvents", "GET", "/identitypools/{IdentityPoolId}/events"},
	{"GetIdentityPoolConfiguration", "GET", "/identitypools/{IdentityPoolId}/configuration"},
	{"ListDatasets", "GET", "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets"},
	{"ListIdentityPoolUsage", "GET", "/identitypools"},
	{"ListRecords", "GET", "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}/records"},
	{"RegisterDevice", "POST", "/identitypools/{IdentityPoolId}/identity/{IdentityId}/device"},
	{"SetCognitoEvents", "POST", "/identitypools/{IdentityPoolId}/events"},
	{"SetIdentityPoolConfiguration", "POST", "/identitypools/{IdentityPoolId}/configuration"},
	{"SubscribeToDataset", "POST", "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}/subscriptions/{DeviceId}"},
	{"UnsubscribeFromDataset", "DELETE", "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}/subscriptions/{DeviceId}"},
	{"UpdateRecords", "POST", "/identitypools/{IdentityPoolId}/identities/{IdentityId}/datasets/{DatasetName}"},
}

// Signing names and the Cognito Identity target prefix (spec A.1, G.1).
const (
	SyncSigningName      = "cognito-sync"
	IdentitySigningName  = "cognito-identity"
	IdentityTargetPrefix = "AWSCognitoIdentityService."
)
