package importer

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/aws/smithy-go"

	"github.com/cognitosync/cognitosync/syncapi"
)

// GetIDAPI is the Cognito Identity call the login fallback makes
// (aws-sdk-go-v2's cognitoidentity.Client implements it).
type GetIDAPI interface {
	GetId(ctx context.Context, in *cognitoidentity.GetIdInput, optFns ...func(*cognitoidentity.Options)) (*cognitoidentity.GetIdOutput, error)
}

// SourceLogins is syncapi.LoginFallback over the source's Cognito
// Identity: GetId with the same Logins, unsigned, as a device would call
// it. A login the source refuses (NotAuthorizedException: an expired
// token, a provider the source pool does not trust) or a pool it does not
// have resolves to no identity.
type SourceLogins struct {
	Identity GetIDAPI
}

var _ syncapi.LoginFallback = SourceLogins{}

// ResolveLogins implements syncapi.LoginFallback.
func (s SourceLogins) ResolveLogins(ctx context.Context, poolID string, logins map[string]string) (string, error) {
	out, err := s.Identity.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(poolID), Logins: logins})
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NotAuthorizedException", "ResourceNotFoundException", "InvalidParameterException":
			return "", nil
		}
	}
	if err != nil {
		return "", err
	}
	return aws.ToString(out.IdentityId), nil
}
