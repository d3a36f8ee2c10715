// Package trigger holds the SyncTrigger invokers of syncapi.TriggerInvoker:
// LambdaInvoker calls a function through the AWS Lambda Invoke API (AWS, the
// Lambda Runtime Interface Emulator or any Lambda-compatible endpoint), and
// InProcess runs Go handlers inside syncd (the embedded mode).
package trigger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/cognitosync/cognitosync/syncapi"
)

// lambdaAPI is the part of the Lambda client LambdaInvoker uses;
// *lambda.Client implements it.
type lambdaAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var _ lambdaAPI = (*lambda.Client)(nil)

// LambdaConfig configures a LambdaInvoker.
type LambdaConfig struct {
	// Client calls the Invoke API; required. main builds a *lambda.Client
	// from aws.Config (with BaseEndpoint for a local endpoint).
	Client lambdaAPI
	// FunctionName, when set, is sent as the function name for every ARN:
	// the Runtime Interface Emulator serves only the name "function".
	// "": the pool's function ARN is sent as it is.
	FunctionName string
}

// Validate reports missing required fields.
func (c LambdaConfig) Validate() error {
	if c.Client == nil {
		return errors.New("lambda invoker: Client is required")
	}
	return nil
}

// LambdaInvoker runs SyncTrigger functions with a synchronous
// (RequestResponse) Lambda Invoke. It is safe for concurrent use.
type LambdaInvoker struct{ c LambdaConfig }

var _ syncapi.TriggerInvoker = (*LambdaInvoker)(nil)

// NewLambdaInvoker returns a LambdaInvoker.
func NewLambdaInvoker(c LambdaConfig) (*LambdaInvoker, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &LambdaInvoker{c: c}, nil
}

// functionError is the payload Lambda returns with X-Amz-Function-Error.
type functionError struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

// Invoke sends ev to the function and decodes its answer. Errors: a function
// error, an answer that is not a JSON event, or a function that cannot be
// invoked → syncapi.ErrLambdaOutput; Lambda throttling → ErrLambdaThrottled;
// ctx's deadline or a network timeout → ErrLambdaTimeout.
func (l *LambdaInvoker) Invoke(ctx context.Context, functionArn string, ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
	payload, err := json.Marshal(ev)
	if err != nil {
		return syncapi.TriggerEvent{}, fmt.Errorf("encode sync trigger event: %w", err)
	}
	name := functionArn
	if l.c.FunctionName != "" {
		name = l.c.FunctionName
	}
	out, err := l.c.Client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: payload})
	if err != nil {
		return syncapi.TriggerEvent{}, mapInvokeError(ctx, functionArn, err)
	}
	if out.FunctionError != nil {
		var fe functionError
		msg := string(out.Payload)
		if json.Unmarshal(out.Payload, &fe) == nil && fe.ErrorMessage != "" {
			msg = fe.ErrorMessage
		}
		return syncapi.TriggerEvent{}, syncapi.Errorf(syncapi.ErrLambdaOutput,
			"SyncTrigger function failed (%s): %s", *out.FunctionError, msg)
	}
	// The emulator answers a handler error with 200 and the error payload,
	// without X-Amz-Function-Error.
	var fe functionError
	if json.Unmarshal(out.Payload, &struct {
		*functionError
		EventType *string `json:"eventType"`
	}{functionError: &fe}) == nil && fe.ErrorMessage != "" && !bytes.Contains(out.Payload, []byte(`"eventType"`)) {
		return syncapi.TriggerEvent{}, syncapi.Errorf(syncapi.ErrLambdaOutput,
			"SyncTrigger function failed (%s): %s", fe.ErrorType, fe.ErrorMessage)
	}
	var res syncapi.TriggerEvent
	if err := json.Unmarshal(out.Payload, &res); err != nil {
		return syncapi.TriggerEvent{}, syncapi.Errorf(syncapi.ErrLambdaOutput,
			"SyncTrigger function returned output that is not a Cognito event: %v", err)
	}
	return res, nil
}

func mapInvokeError(ctx context.Context, arn string, err error) error {
	var (
		tooMany *types.TooManyRequestsException
		ne      net.Error
		re      *smithyhttp.ResponseError
	)
	switch {
	case errors.As(err, &tooMany):
		return syncapi.Errorf(syncapi.ErrLambdaThrottled, "SyncTrigger function %s is throttled; retry the sync.", arn)
	case errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil, errors.As(err, &ne) && ne.Timeout():
		return syncapi.Errorf(syncapi.ErrLambdaTimeout, "SyncTrigger function %s did not answer in time.", arn)
	case errors.As(err, &re) && re.HTTPStatusCode() >= 500:
		// Lambda's own failures, and the emulator's answer when the
		// function's process crashed (502).
		return syncapi.Errorf(syncapi.ErrLambdaOutput,
			"SyncTrigger function %s failed: Lambda answered HTTP %d; the function may have crashed (%v)", arn, re.HTTPStatusCode(), err)
	default:
		return syncapi.Errorf(syncapi.ErrLambdaOutput, "SyncTrigger function %s could not be invoked: %v", arn, err)
	}
}
