package server

import (
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/cognitosync/cognitosync/internal/awsenv"
	"github.com/cognitosync/cognitosync/syncapi/trigger"
)

// newLambdaInvoker builds the Lambda client SyncTrigger functions are
// invoked with: cfg, with endpoint as its base endpoint when set. A local
// endpoint (the emulator) ignores signatures, so when the chain has no
// credentials there, placeholder ones are used. No retries: a throttled or
// failed call answers the sync at once, within the 5 s trigger limit.
func newLambdaInvoker(cfg aws.Config, endpoint, functionName string, log *slog.Logger) (*trigger.LambdaInvoker, error) {
	if endpoint != "" {
		cfg.Credentials = awsenv.WithPlaceholder(cfg.Credentials, "syncd")
	}
	cl := lambda.NewFromConfig(cfg, func(o *lambda.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.RetryMaxAttempts = 1
	})
	inv, err := trigger.NewLambdaInvoker(trigger.LambdaConfig{Client: cl, FunctionName: functionName, Log: log})
	if err != nil {
		return nil, fmt.Errorf("lambda invoker: %w", err)
	}
	return inv, nil
}
