// Package httpapi serves the Cognito Sync rest-json wire and the Cognito
// Identity awsJson1.1 subset (spec A, G), and holds the one table that maps
// domain errors to AWS error codes and HTTP statuses.
package httpapi

import (
	"errors"

	"github.com/cognitosync/cognitosync/syncapi"
)

// codes maps domain sentinels to AWS codes; HTTP statuses are the model's
// (spec A.5). It is the only place that knows AWS error codes.
var codes = []struct {
	err    error
	code   string
	status int
}{
	{syncapi.ErrNotFound, "ResourceNotFoundException", 404},
	{syncapi.ErrConflict, "ResourceConflictException", 409},
	{syncapi.ErrLimitExceeded, "LimitExceededException", 400},
	{syncapi.ErrTooManyRequests, "TooManyRequestsException", 429},
	{syncapi.ErrNotAuthorized, "NotAuthorizedException", 403},
	{syncapi.ErrInvalidConfig, "InvalidConfigurationException", 400},
	{syncapi.ErrDuplicateRequest, "DuplicateRequestException", 400},
	{syncapi.ErrAlreadyStreamed, "AlreadyStreamedException", 400},
	{syncapi.ErrConcurrentModify, "ConcurrentModificationException", 400},
	{syncapi.ErrLambdaOutput, "InvalidLambdaFunctionOutputException", 400},
	{syncapi.ErrLambdaThrottled, "LambdaThrottledException", 429},
	{syncapi.ErrLambdaTimeout, "LambdaSocketTimeoutException", 500},
	{syncapi.ErrExternalService, "ExternalServiceException", 400},
	{syncapi.ErrIdentityPoolConfig, "InvalidIdentityPoolConfigurationException", 400},
	{syncapi.ErrUnknownOperation, "UnknownOperationException", 400},
	{syncapi.ErrInternal, "InternalErrorException", 500},
	{syncapi.ErrDeveloperUserRegistered, "DeveloperUserAlreadyRegisteredException", 400},
	// Not in the Cognito Sync model: the common AWS code for a transient
	// outage. Every SDK retries a 503 (aws-sdk-go v1 DefaultRetryer: any
	// 5xx but 501, and 503 as a throttle; v2: 500, 502, 503, 504).
	{syncapi.ErrUnavailable, "ServiceUnavailableException", 503},
}

// Codes that have no domain sentinel.
const (
	CodeInvalidParameter = "InvalidParameterException"
	CodeSerialization    = "SerializationException"
	CodeInternal         = "InternalErrorException"
)

// authStatus is the HTTP status of the AWS common authentication codes.
var authStatus = map[string]int{
	"MissingAuthenticationTokenException": 403,
	"UnrecognizedClientException":         403,
	"InvalidSignatureException":           403,
	"IncompleteSignatureException":        400,
	"ExpiredTokenException":               403,
	"AccessDeniedException":               403,
}

// ErrorCode returns the AWS code, HTTP status and client-visible message for
// err. ok is false for an unexpected error (InternalErrorException 500,
// generic message), which the caller logs.
func ErrorCode(err error) (code string, status int, message string, ok bool) {
	var (
		ve *syncapi.ValidationError
		se *syncapi.SerializationError
		ae *syncapi.AuthError
	)
	switch {
	case errors.As(err, &ve):
		return CodeInvalidParameter, 400, ve.Error(), true
	case errors.As(err, &se):
		return CodeSerialization, 400, se.Error(), true
	case errors.As(err, &ae):
		st, known := authStatus[ae.Code]
		if !known {
			st = 403
		}
		return ae.Code, st, ae.Message, true
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			switch c.err {
			case syncapi.ErrInternal:
				return c.code, c.status, "An internal error occurred.", false
			case syncapi.ErrUnavailable: // the cause is logged, never shown
				return c.code, c.status, "The service cannot reach its database or store data right now; nothing was changed. Retry the request.", false
			}
			return c.code, c.status, messageOf(err), true
		}
	}
	return CodeInternal, 500, "An internal error occurred.", false
}

// messageOf returns the innermost *syncapi.Error or *syncapi.ConflictError
// message (the text AWS clients show), else err's text.
func messageOf(err error) string {
	var ce *syncapi.ConflictError
	if errors.As(err, &ce) {
		return ce.Error()
	}
	var de *syncapi.Error
	if errors.As(err, &de) {
		return de.Message
	}
	return err.Error()
}

// ErrorKind returns the domain sentinel for an AWS error code, or nil when the
// code has none (InvalidParameterException, SerializationException and the
// authentication codes). The client uses it so callers can errors.Is.
func ErrorKind(code string) error {
	for _, c := range codes {
		if c.code == code {
			return c.err
		}
	}
	return nil
}

// IsAuthCode reports whether code is an AWS common authentication code.
func IsAuthCode(code string) bool { _, ok := authStatus[code]; return ok }

// Codes the wire layer answers by itself.
const (
	// CodeUnknownOperation is answered for a request that names no operation:
	// an unknown path (404), a known path with another method (405), or an
	// unknown X-Amz-Target (400). It is the code ErrUnknownOperation maps to,
	// so the client's errors.Is works for all three.
	CodeUnknownOperation = "UnknownOperationException"
	// CodeRequestTooLarge is answered (413) for a body over Config.MaxBodyBytes.
	CodeRequestTooLarge = "RequestEntityTooLargeException"
	// CodeRequestTimeout is answered (408) when the body did not arrive
	// before the read deadline; SDKs retry it.
	CodeRequestTimeout = "RequestTimeoutException"
)
