package syncapi

import (
	"errors"
	"fmt"
)

// Domain errors. httpapi/errors.go is the only place that maps them to AWS
// error codes and HTTP statuses; everything else wraps them with %w.
var (
	ErrNotFound           = errors.New("resource not found")                  // ResourceNotFoundException 404
	ErrConflict           = errors.New("conflict")                            // ResourceConflictException 409
	ErrLimitExceeded      = errors.New("limit exceeded")                      // LimitExceededException 400
	ErrTooManyRequests    = errors.New("too many requests")                   // TooManyRequestsException 429
	ErrNotAuthorized      = errors.New("not authorized")                      // NotAuthorizedException 403
	ErrInvalidConfig      = errors.New("invalid configuration")               // InvalidConfigurationException 400
	ErrDuplicateRequest   = errors.New("duplicate request")                   // DuplicateRequestException 400
	ErrAlreadyStreamed    = errors.New("already streamed")                    // AlreadyStreamedException 400
	ErrConcurrentModify   = errors.New("concurrent modification")             // ConcurrentModificationException 400
	ErrLambdaOutput       = errors.New("invalid lambda function output")      // InvalidLambdaFunctionOutputException 400
	ErrLambdaThrottled    = errors.New("lambda throttled")                    // LambdaThrottledException 429
	ErrLambdaTimeout      = errors.New("lambda socket timeout")               // LambdaSocketTimeoutException 500
	ErrExternalService    = errors.New("external service")                    // ExternalServiceException 400 (identity)
	ErrIdentityPoolConfig = errors.New("invalid identity pool configuration") // InvalidIdentityPoolConfigurationException 400
	ErrUnknownOperation   = errors.New("unknown operation")                   // UnknownOperationException 400
	ErrInternal           = errors.New("internal error")                      // InternalErrorException 500
	// ErrUnavailable marks a transient failure of the store (database
	// unreachable, disk full): the request changed nothing and may be
	// retried. Stores wrap such errors with it.
	ErrUnavailable = errors.New("service unavailable") // ServiceUnavailableException 503
	// ErrRevoked is a write (or read) by identity credentials whose pool
	// or identity no longer exists, or whose pool was deleted and created
	// again: the credentials were revoked even if a cache still held them.
	// The Service answers it as the verifier answers an unknown key.
	ErrRevoked = errors.New("credentials revoked")
)

// Error is a domain error with the message the client sees. Kind is one of the
// sentinels above; errors.Is(err, Kind) holds.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Kind }

// Errorf builds an *Error of the given kind.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// ValidationError reports a parameter that violates its constraints
// (InvalidParameterException 400).
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// SerializationError reports a request body that cannot be decoded
// (SerializationException 400).
type SerializationError struct{ Reason string }

func (e *SerializationError) Error() string { return e.Reason }

// ConflictError is a stale SyncCount. Its message is the exact AWS format
// (spec C.5): "Current SyncCount for: <Key> is: <server> not: <patch>".
type ConflictError struct {
	Key           string
	Current, Sent int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("Current SyncCount for: %s is: %d not: %d", e.Key, e.Current, e.Sent)
}
func (e *ConflictError) Unwrap() error { return ErrConflict }

// AuthError is a failed authentication (not a failed authorization): the AWS
// common codes that are not in the Cognito Sync model (spec A.2).
type AuthError struct {
	Code    string // MissingAuthenticationTokenException, UnrecognizedClientException, InvalidSignatureException, ExpiredTokenException, IncompleteSignatureException
	Message string
}

func (e *AuthError) Error() string { return e.Code + ": " + e.Message }
