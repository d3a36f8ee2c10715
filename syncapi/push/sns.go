package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"

	"github.com/cognitosync/cognitosync/syncapi"
)

// SNSAPI is the part of the aws-sdk-go-v2 SNS client the SNS notifier uses.
type SNSAPI interface {
	CreatePlatformEndpoint(ctx context.Context, in *sns.CreatePlatformEndpointInput, opts ...func(*sns.Options)) (*sns.CreatePlatformEndpointOutput, error)
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

type snsNotifier struct{ api SNSAPI }

var (
	_ Notifier  = snsNotifier{}
	_ Registrar = snsNotifier{}
)

// NewSNS returns a Notifier that sends through Amazon SNS, as Cognito Sync
// does: each device gets a platform endpoint of the pool's PushSync
// application for its platform (CreatePlatformEndpoint, kept with the
// device), and each notification is a Publish to it with MessageStructure
// json. SNS' EndpointDisabled means a dead token.
func NewSNS(api SNSAPI) Notifier { return snsNotifier{api} }

func (snsNotifier) Backend() string { return "sns" }

// Endpoint creates (or, SNS being idempotent for the same token, finds)
// the platform endpoint of token.
func (s snsNotifier) Endpoint(ctx context.Context, p syncapi.Pool, platform, token string) (string, error) {
	app := syncapi.ApplicationArn(p, platform)
	if app == "" {
		return "", Permanent(fmt.Errorf("sns: identity pool %s has no PushSync application for platform %s", p.ID(), platform))
	}
	out, err := s.api.CreatePlatformEndpoint(ctx, &sns.CreatePlatformEndpointInput{PlatformApplicationArn: aws.String(app), Token: aws.String(token)})
	if err != nil {
		return "", snsError("create platform endpoint", err)
	}
	return aws.ToString(out.EndpointArn), nil
}

func (s snsNotifier) Send(ctx context.Context, n Notification) error {
	// MessageStructure json: one message per protocol, the platform's
	// being the framed payload as a JSON string; "default" is required.
	m, err := json.Marshal(map[string]string{"default": string(n.Message), n.Platform: string(n.Message)})
	if err != nil {
		return Permanent(err)
	}
	_, err = s.api.Publish(ctx, &sns.PublishInput{TargetArn: aws.String(n.Endpoint), MessageStructure: aws.String("json"), Message: aws.String(string(m))})
	if err != nil {
		return snsError("publish", err)
	}
	return nil
}

// snsError classifies an SNS error by its code.
func snsError(op string, err error) error {
	err = fmt.Errorf("sns: %s: %w", op, err)
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.ErrorCode() {
	case "EndpointDisabled":
		return errors.Join(ErrDeadToken, err)
	case "NotFound":
		return errors.Join(ErrEndpointGone, err)
	case "InvalidParameter", "InvalidParameterValue", "AuthorizationError":
		return Permanent(err)
	}
	return err
}
