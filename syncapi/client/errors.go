package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/aws/smithy-go"

	"github.com/cognitosync/cognitosync/syncapi/httpapi"
)

// Error codes the client treats as throttling (retryable despite a 4xx
// status), from the Cognito Sync model (spec A.5).
const (
	CodeTooManyRequests = "TooManyRequestsException"
	CodeLambdaThrottled = "LambdaThrottledException"
	codeUnknown         = "UnknownError" // aws-sdk-go-v2's code when a response names none
	codeExpiredToken    = "ExpiredTokenException"
)

// APIError is an error answered by the service (any non-2xx response).
// errors.Is(err, syncapi.ErrConflict) and the other sentinels hold through
// Unwrap; codes without a sentinel (InvalidParameterException,
// SerializationException, authentication codes) unwrap to nil, so match them
// on Code. It also satisfies smithy.APIError.
type APIError struct {
	Code       string // AWS error code without namespace, e.g. "ResourceConflictException"; "UnknownError" when the response names none
	Message    string // the service's message; for a non-JSON body its text (truncated), or the status text
	StatusCode int    // HTTP status
	RequestID  string // x-amzn-RequestId
}

var _ smithy.APIError = (*APIError)(nil)

// Error formats the error like aws-sdk-go-v2's response errors.
func (e *APIError) Error() string {
	return fmt.Sprintf("https response error StatusCode: %d, RequestID: %s, api error %s: %s",
		e.StatusCode, e.RequestID, e.Code, e.Message)
}

// Unwrap returns the syncapi sentinel for Code (httpapi.ErrorKind), or nil.
func (e *APIError) Unwrap() error { return httpapi.ErrorKind(e.Code) }

// ErrorCode returns Code (smithy.APIError).
func (e *APIError) ErrorCode() string { return e.Code }

// ErrorMessage returns Message (smithy.APIError).
func (e *APIError) ErrorMessage() string { return e.Message }

// ErrorFault reports a 5xx as a server fault, anything else as a client fault
// (smithy.APIError).
func (e *APIError) ErrorFault() smithy.ErrorFault {
	if e.StatusCode >= 500 {
		return smithy.FaultServer
	}
	return smithy.FaultClient
}

// HTTPStatusCode returns StatusCode; the SDK's retryers read it.
func (e *APIError) HTTPStatusCode() int { return e.StatusCode }

// Throttling reports whether the error is throttling: HTTP 429,
// TooManyRequestsException or LambdaThrottledException.
func (e *APIError) Throttling() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.Code == CodeTooManyRequests || e.Code == CodeLambdaThrottled
}

// RetryableError tells the SDK's retryers (retry.RetryableError, consulted
// first by retry.NewStandard) that throttling and 5xx are retryable and every
// other error is not. Without it the standard retryer would retry
// LimitExceededException (in its throttle list), a quota error that a retry
// cannot fix, and miss LambdaThrottledException.
func (e *APIError) RetryableError() bool {
	return e.Throttling() || e.StatusCode >= 500
}

// maxErrorText bounds the text kept from a non-JSON error body.
const maxErrorText = 512

// parseError builds the *APIError for a non-2xx response per spec A.5: the
// code from header x-amzn-ErrorType, else body __type, else body code; the
// message from body message or Message, else header x-amzn-ErrorMessage.
func parseError(resp *http.Response, body []byte) *APIError {
	e := &APIError{StatusCode: resp.StatusCode, RequestID: requestID(resp.Header)}
	var doc struct {
		Type     string `json:"__type"`
		Code     string `json:"code"`
		Message  string `json:"message"`
		MessageU string `json:"Message"`
	}
	trimmed := bytes.TrimSpace(body)
	isJSON := len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &doc) == nil
	e.Code = sanitizeCode(firstNonEmpty(resp.Header.Get("X-Amzn-Errortype"), doc.Type, doc.Code))
	if e.Code == "" {
		e.Code = codeUnknown
	}
	e.Message = firstNonEmpty(doc.Message, doc.MessageU, resp.Header.Get("X-Amzn-Errormessage"))
	if e.Message == "" && !isJSON && len(trimmed) > 0 {
		e.Message = truncate(string(trimmed), maxErrorText)
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// sanitizeCode strips a ":<namespace url>" suffix and a "<namespace>#"
// prefix, as the AWS SDKs do (e.g. "ResourceConflictException:http://internal.amazon.com/coral/…"
// or "com.amazonaws.cognito.sync.model#ResourceConflictException").
func sanitizeCode(code string) string {
	code = strings.TrimSpace(code)
	if i := strings.IndexByte(code, ':'); i >= 0 {
		code = code[:i]
	}
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	return code
}

func requestID(h http.Header) string {
	return firstNonEmpty(h.Get("X-Amzn-Requestid"), h.Get("X-Amz-Request-Id"))
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
