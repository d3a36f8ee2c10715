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
	"log/slog"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
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
	// Log receives why an invocation failed, with what only the operator
	// may see (the Lambda endpoint's address, the transport error); the
	// client gets a message without it. nil: discard.
	Log *slog.Logger
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
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &LambdaInvoker{c: c}, nil
}

// Kinds of invocation failure besides the function's own error, for the
// outcome label of MetricTriggerInvocations; errors.Is finds them next to
// the syncapi kind the client gets.
var (
	// ErrUnreachable: no answer from the Lambda endpoint (connection
	// refused, DNS, TLS): the function never ran.
	ErrUnreachable = errors.New("sync trigger: Lambda endpoint unreachable")
	// ErrInvokeFailed: the Invoke API answered with an error of its own
	// (the function does not exist, no permission, a Lambda or emulator
	// failure): the function did not answer.
	ErrInvokeFailed = errors.New("sync trigger: Lambda invoke failed")
)

// invokeError is what the client sees (public, a *syncapi.Error without
// addresses) and the kind of failure; the cause is logged, not returned.
type invokeError struct {
	public error
	kind   error
}

func (e *invokeError) Error() string   { return e.public.Error() }
func (e *invokeError) Unwrap() []error { return []error{e.public, e.kind} }

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
		mapped := mapInvokeError(ctx, functionArn, err)
		l.c.Log.Warn("sync trigger invocation failed", "function", functionArn, "function_name", name,
			"client_error", mapped.Error(), "err", err)
		return syncapi.TriggerEvent{}, mapped
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

// mapInvokeError turns an Invoke API error into what the client gets: the
// AWS error kind and a message that names the function but never the
// endpoint's address or the transport error (Invoke logs those).
func mapInvokeError(ctx context.Context, arn string, err error) error {
	var (
		tooMany *types.TooManyRequestsException
		ne      net.Error
		re      *smithyhttp.ResponseError
		api     smithy.APIError
		send    *smithyhttp.RequestSendError
	)
	switch {
	case errors.As(err, &tooMany):
		return syncapi.Errorf(syncapi.ErrLambdaThrottled, "SyncTrigger function %s is throttled; retry the sync.", arn)
	case errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil, errors.As(err, &ne) && ne.Timeout():
		return syncapi.Errorf(syncapi.ErrLambdaTimeout, "SyncTrigger function %s did not answer in time.", arn)
	case errors.As(err, &send), errors.As(err, &re) && re.HTTPStatusCode() == 0:
		// The SDK's "request send failed": no HTTP answer at all.
		return &invokeError{kind: ErrUnreachable, public: syncapi.Errorf(syncapi.ErrLambdaOutput,
			"SyncTrigger function %s could not be invoked: the Lambda endpoint did not answer.", arn)}
	case errors.As(err, &re) && re.HTTPStatusCode() >= 500:
		// Lambda's own failures, and the emulator's answer when the
		// function's process crashed (502).
		return &invokeError{kind: ErrInvokeFailed, public: syncapi.Errorf(syncapi.ErrLambdaOutput,
			"SyncTrigger function %s failed: Lambda answered HTTP %d; the function may have crashed.", arn, re.HTTPStatusCode())}
	case errors.As(err, &api):
		return &invokeError{kind: ErrInvokeFailed, public: syncapi.Errorf(syncapi.ErrLambdaOutput,
			"SyncTrigger function %s could not be invoked: Lambda answered %s.", arn, api.ErrorCode())}
	case errors.As(err, &re):
		return &invokeError{kind: ErrInvokeFailed, public: syncapi.Errorf(syncapi.ErrLambdaOutput,
			"SyncTrigger function %s could not be invoked: Lambda answered HTTP %d.", arn, re.HTTPStatusCode())}
	default:
		return &invokeError{kind: ErrUnreachable, public: syncapi.Errorf(syncapi.ErrLambdaOutput,
			"SyncTrigger function %s could not be invoked: the Lambda endpoint did not answer.", arn)}
	}
}
