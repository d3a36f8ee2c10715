package syncapi

import (
	"context"
	"time"
)

// CognitoIdentityProviderName is the Logins key under which clients present
// an OpenID token syncd issued (GetOpenIdTokenForDeveloperIdentity,
// GetOpenIdToken), as they present AWS's own (spec G.6).
const CognitoIdentityProviderName = "cognito-identity.amazonaws.com"

// OpenIDToken is what syncd puts in an OpenID token it signs: the claims AWS
// puts in its tokens (aud = pool id, sub = identity id, amr).
type OpenIDToken struct {
	PoolID, IdentityID string
	AMR                []string
	TTL                time.Duration
	PrincipalTags      map[string]string
}

// LoginTokens issues syncd's OpenID tokens and verifies login tokens; the
// adapter (syncapi/idtoken) uses a maintained JOSE/OIDC library. Safe for
// concurrent use.
type LoginTokens interface {
	// IssueToken signs t.
	IssueToken(ctx context.Context, t OpenIDToken) (string, error)
	// VerifyLogin verifies token presented under the Logins key provider
	// for pool p and returns its subject: for
	// CognitoIdentityProviderName the identity id of a token syncd issued
	// for p, else the user at that provider. A token that fails any check,
	// or a provider p does not trust, is ErrNotAuthorized with a message
	// that says why; a provider that cannot be reached, ErrExternalService.
	VerifyLogin(ctx context.Context, p IdentityPool, provider, token string) (string, error)
}
