package syncapi

import "encoding/json"

// Cognito Identity 2014-06-30 shapes of logged-in identities (spec G.6),
// member names as in the AWS model.

// IdentityDescription is DescribeIdentity's response and one entry of
// ListIdentities: Logins are the provider names linked to the identity.
type IdentityDescription struct {
	IdentityID       string   `json:"IdentityId,omitempty"`
	Logins           []string `json:"Logins,omitempty"`
	CreationDate     *Time    `json:"CreationDate,omitempty"`
	LastModifiedDate *Time    `json:"LastModifiedDate,omitempty"`
}

// DescribeIdentityInput is DescribeIdentity's request.
type DescribeIdentityInput struct {
	IdentityID string `json:"IdentityId"`
}

// ListIdentitiesInput is ListIdentities' request; MaxResults (1–60) is
// required.
type ListIdentitiesInput struct {
	IdentityPoolID string `json:"IdentityPoolId"`
	MaxResults     *int32 `json:"MaxResults"`
	NextToken      string `json:"NextToken,omitempty"`
	HideDisabled   bool   `json:"HideDisabled,omitempty"`
}

// ListIdentitiesOutput is ListIdentities' response.
type ListIdentitiesOutput struct {
	IdentityPoolID string                `json:"IdentityPoolId"`
	Identities     []IdentityDescription `json:"Identities"`
	NextToken      string                `json:"NextToken,omitempty"`
}

// LookupDeveloperIdentityInput is LookupDeveloperIdentity's request: one of
// IdentityID and DeveloperUserIdentifier at least.
type LookupDeveloperIdentityInput struct {
	IdentityPoolID          string `json:"IdentityPoolId"`
	IdentityID              string `json:"IdentityId,omitempty"`
	DeveloperUserIdentifier string `json:"DeveloperUserIdentifier,omitempty"`
	MaxResults              *int32 `json:"MaxResults,omitempty"`
	NextToken               string `json:"NextToken,omitempty"`
}

// LookupDeveloperIdentityOutput is LookupDeveloperIdentity's response.
type LookupDeveloperIdentityOutput struct {
	IdentityID                  string   `json:"IdentityId,omitempty"`
	DeveloperUserIdentifierList []string `json:"DeveloperUserIdentifierList"`
	NextToken                   string   `json:"NextToken,omitempty"`
}

// GetOpenIDTokenForDeveloperIdentityInput is
// GetOpenIdTokenForDeveloperIdentity's request.
type GetOpenIDTokenForDeveloperIdentityInput struct {
	IdentityPoolID string            `json:"IdentityPoolId"`
	IdentityID     string            `json:"IdentityId,omitempty"`
	Logins         map[string]string `json:"Logins"`
	PrincipalTags  map[string]string `json:"PrincipalTags,omitempty"`
	TokenDuration  *int64            `json:"TokenDuration,omitempty"`
}

// OpenIDTokenOutput is the response of GetOpenIdToken and
// GetOpenIdTokenForDeveloperIdentity.
type OpenIDTokenOutput struct {
	IdentityID string `json:"IdentityId"`
	Token      string `json:"Token"`
}

// GetOpenIDTokenInput is GetOpenIdToken's request.
type GetOpenIDTokenInput struct {
	IdentityID string            `json:"IdentityId"`
	Logins     map[string]string `json:"Logins,omitempty"`
}

// MergeDeveloperIdentitiesInput is MergeDeveloperIdentities' request.
type MergeDeveloperIdentitiesInput struct {
	SourceUserIdentifier      string `json:"SourceUserIdentifier"`
	DestinationUserIdentifier string `json:"DestinationUserIdentifier"`
	DeveloperProviderName     string `json:"DeveloperProviderName"`
	IdentityPoolID            string `json:"IdentityPoolId"`
}

// IdentityIDOutput is MergeDeveloperIdentities' response.
type IdentityIDOutput struct {
	IdentityID string `json:"IdentityId"`
}

// UnlinkDeveloperIdentityInput is UnlinkDeveloperIdentity's request.
type UnlinkDeveloperIdentityInput struct {
	IdentityID              string `json:"IdentityId"`
	IdentityPoolID          string `json:"IdentityPoolId"`
	DeveloperProviderName   string `json:"DeveloperProviderName"`
	DeveloperUserIdentifier string `json:"DeveloperUserIdentifier"`
}

// UnlinkIdentityInput is UnlinkIdentity's request (unsigned): Logins prove
// the caller owns the identity, LoginsToRemove name providers to unlink.
type UnlinkIdentityInput struct {
	IdentityID     string            `json:"IdentityId"`
	Logins         map[string]string `json:"Logins"`
	LoginsToRemove []string          `json:"LoginsToRemove"`
}

// DeleteIdentitiesInput is DeleteIdentities' request (1–60 ids).
type DeleteIdentitiesInput struct {
	IdentityIDsToDelete []string `json:"IdentityIdsToDelete"`
}

// UnprocessedIdentityID is an identity DeleteIdentities did not delete.
type UnprocessedIdentityID struct {
	IdentityID string `json:"IdentityId,omitempty"`
	ErrorCode  string `json:"ErrorCode,omitempty"` // AccessDenied | InternalServerError
}

// DeleteIdentitiesOutput is DeleteIdentities' response.
type DeleteIdentitiesOutput struct {
	UnprocessedIdentityIDs []UnprocessedIdentityID `json:"UnprocessedIdentityIds"`
}

// IdentityPoolRoles is SetIdentityPoolRoles' request and
// GetIdentityPoolRoles' response. syncd stores them and applies none:
// Cognito Sync access is decided by the identity, not by IAM roles.
type IdentityPoolRoles struct {
	IdentityPoolID string                     `json:"IdentityPoolId"`
	Roles          map[string]string          `json:"Roles,omitempty"`
	RoleMappings   map[string]json.RawMessage `json:"RoleMappings,omitempty"`
}
