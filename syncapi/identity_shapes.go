package syncapi

// Cognito Identity 2014-06-30 shapes of the subset syncd serves (spec G.2).

// CognitoIdentityProvider is one Cognito user pool provider of an identity pool.
type CognitoIdentityProvider struct {
	ProviderName         string `json:"ProviderName,omitempty"`
	ClientID             string `json:"ClientId,omitempty"`
	ServerSideTokenCheck *bool  `json:"ServerSideTokenCheck,omitempty"`
}

// IdentityPool is an identity pool as CreateIdentityPool, DescribeIdentityPool
// and UpdateIdentityPool carry it.
type IdentityPool struct {
	IdentityPoolID                 string                    `json:"IdentityPoolId"`
	IdentityPoolName               string                    `json:"IdentityPoolName"`
	AllowUnauthenticatedIdentities bool                      `json:"AllowUnauthenticatedIdentities"`
	AllowClassicFlow               *bool                     `json:"AllowClassicFlow,omitempty"`
	SupportedLoginProviders        map[string]string         `json:"SupportedLoginProviders,omitempty"`
	DeveloperProviderName          string                    `json:"DeveloperProviderName,omitempty"`
	OpenIDConnectProviderARNs      []string                  `json:"OpenIdConnectProviderARNs,omitempty"`
	CognitoIdentityProviders       []CognitoIdentityProvider `json:"CognitoIdentityProviders,omitempty"`
	SamlProviderARNs               []string                  `json:"SamlProviderARNs,omitempty"`
	IdentityPoolTags               map[string]string         `json:"IdentityPoolTags,omitempty"`
}

// PoolIDTag is the IdentityPoolTags key with which CreateIdentityPool chooses
// the pool id, so an operator migrating from AWS keeps the IdentityPoolId that
// apps already embed. The tag is consumed, not stored.
const PoolIDTag = "syncd:IdentityPoolId"

// IdentityPoolIDInput is the request of DescribeIdentityPool and DeleteIdentityPool.
type IdentityPoolIDInput struct {
	IdentityPoolID string `json:"IdentityPoolId"`
}

// ListIdentityPoolsInput is ListIdentityPools' request.
type ListIdentityPoolsInput struct {
	MaxResults *int32 `json:"MaxResults"`
	NextToken  string `json:"NextToken,omitempty"`
}

// IdentityPoolShort is one entry of ListIdentityPools.
type IdentityPoolShort struct {
	IdentityPoolID   string `json:"IdentityPoolId"`
	IdentityPoolName string `json:"IdentityPoolName"`
}

// ListIdentityPoolsOutput is ListIdentityPools' response.
type ListIdentityPoolsOutput struct {
	IdentityPools []IdentityPoolShort `json:"IdentityPools"`
	NextToken     string              `json:"NextToken,omitempty"`
}

// GetIDInput is GetId's request.
type GetIDInput struct {
	AccountID      string            `json:"AccountId,omitempty"`
	IdentityPoolID string            `json:"IdentityPoolId"`
	Logins         map[string]string `json:"Logins,omitempty"`
}

// GetIDOutput is GetId's response.
type GetIDOutput struct {
	IdentityID string `json:"IdentityId"`
}

// GetCredentialsForIdentityInput is GetCredentialsForIdentity's request.
type GetCredentialsForIdentityInput struct {
	IdentityID    string            `json:"IdentityId"`
	Logins        map[string]string `json:"Logins,omitempty"`
	CustomRoleArn string            `json:"CustomRoleArn,omitempty"`
}

// IdentityCredentials are temporary credentials bound to one identity.
type IdentityCredentials struct {
	AccessKeyID  string `json:"AccessKeyId"`
	SecretKey    string `json:"SecretKey"`
	SessionToken string `json:"SessionToken"`
	Expiration   Time   `json:"Expiration"`
}

// GetCredentialsForIdentityOutput is GetCredentialsForIdentity's response.
type GetCredentialsForIdentityOutput struct {
	IdentityID  string              `json:"IdentityId"`
	Credentials IdentityCredentials `json:"Credentials"`
}
