package syncapi

import "context"

// SyncAPI is the Cognito Sync API: the 17 operations of spec A.7. The caller is
// taken from the context (WithCaller); every method authorizes it. Errors are
// the sentinels and error types of errors.go. *Service implements it on the
// server; the client package implements it against any endpoint.
type SyncAPI interface {
	BulkPublish(ctx context.Context, in PoolInput) (BulkPublishOutput, error)
	DeleteDataset(ctx context.Context, in DatasetInput) (DatasetOutput, error)
	DescribeDataset(ctx context.Context, in DatasetInput) (DatasetOutput, error)
	DescribeIdentityPoolUsage(ctx context.Context, in PoolInput) (DescribeIdentityPoolUsageOutput, error)
	DescribeIdentityUsage(ctx context.Context, in IdentityInput) (DescribeIdentityUsageOutput, error)
	GetBulkPublishDetails(ctx context.Context, in PoolInput) (GetBulkPublishDetailsOutput, error)
	GetCognitoEvents(ctx context.Context, in PoolInput) (CognitoEventsOutput, error)
	GetIdentityPoolConfiguration(ctx context.Context, in PoolInput) (PoolConfiguration, error)
	ListDatasets(ctx context.Context, in ListDatasetsInput) (ListDatasetsOutput, error)
	ListIdentityPoolUsage(ctx context.Context, in ListIdentityPoolUsageInput) (ListIdentityPoolUsageOutput, error)
	ListRecords(ctx context.Context, in ListRecordsInput) (ListRecordsOutput, error)
	RegisterDevice(ctx context.Context, in RegisterDeviceInput) (RegisterDeviceOutput, error)
	SetCognitoEvents(ctx context.Context, in SetCognitoEventsInput) error
	SetIdentityPoolConfiguration(ctx context.Context, in PoolConfiguration) (PoolConfiguration, error)
	SubscribeToDataset(ctx context.Context, in SubscriptionInput) error
	UnsubscribeFromDataset(ctx context.Context, in SubscriptionInput) error
	UpdateRecords(ctx context.Context, in UpdateRecordsInput) (UpdateRecordsOutput, error)
}

// IdentityAPI is the Cognito Identity subset of spec G. The developer-only
// operations read the caller from the context; GetID and
// GetCredentialsForIdentity are unsigned, as AWS serves them.
type IdentityAPI interface {
	CreateIdentityPool(ctx context.Context, in IdentityPool) (IdentityPool, error)
	DescribeIdentityPool(ctx context.Context, in IdentityPoolIDInput) (IdentityPool, error)
	ListIdentityPools(ctx context.Context, in ListIdentityPoolsInput) (ListIdentityPoolsOutput, error)
	UpdateIdentityPool(ctx context.Context, in IdentityPool) (IdentityPool, error)
	DeleteIdentityPool(ctx context.Context, in IdentityPoolIDInput) error
	GetID(ctx context.Context, in GetIDInput) (GetIDOutput, error)
	GetCredentialsForIdentity(ctx context.Context, in GetCredentialsForIdentityInput) (GetCredentialsForIdentityOutput, error)

	// Logged-in identities (spec G.6). GetOpenIDToken and UnlinkIdentity
	// are unsigned; the others take developer credentials.
	GetOpenIDToken(ctx context.Context, in GetOpenIDTokenInput) (OpenIDTokenOutput, error)
	GetOpenIDTokenForDeveloperIdentity(ctx context.Context, in GetOpenIDTokenForDeveloperIdentityInput) (OpenIDTokenOutput, error)
	LookupDeveloperIdentity(ctx context.Context, in LookupDeveloperIdentityInput) (LookupDeveloperIdentityOutput, error)
	MergeDeveloperIdentities(ctx context.Context, in MergeDeveloperIdentitiesInput) (IdentityIDOutput, error)
	UnlinkDeveloperIdentity(ctx context.Context, in UnlinkDeveloperIdentityInput) error
	UnlinkIdentity(ctx context.Context, in UnlinkIdentityInput) error
	DescribeIdentity(ctx context.Context, in DescribeIdentityInput) (IdentityDescription, error)
	ListIdentities(ctx context.Context, in ListIdentitiesInput) (ListIdentitiesOutput, error)
	DeleteIdentities(ctx context.Context, in DeleteIdentitiesInput) (DeleteIdentitiesOutput, error)
	GetIdentityPoolRoles(ctx context.Context, in IdentityPoolIDInput) (IdentityPoolRoles, error)
	SetIdentityPoolRoles(ctx context.Context, in IdentityPoolRoles) error
}

// CredentialLookup resolves an access key id to its secret and caller, for
// the SigV4 verifier. It returns ErrNotFound for an unknown key.
type CredentialLookup interface {
	LookupCredential(ctx context.Context, accessKeyID string) (Credential, error)
}
