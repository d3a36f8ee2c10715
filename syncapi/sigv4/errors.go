package sigv4

import "errors"

// ErrUnknownKey is returned (possibly wrapped) by Credentials.Lookup for an
// access key id it does not know. Verify turns it into
// UnrecognizedClientException.
var ErrUnknownKey = errors.New("sigv4: unknown access key id")

// The AWS common authentication codes Verify returns in Error.Code (spec A.2).
// They are not part of any service model; the HTTP layer maps them to statuses.
const (
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	CodeIncompleteSignature        = "IncompleteSignatureException"
	CodeUnrecognizedClient         = "UnrecognizedClientException"
	CodeInvalidSignature           = "InvalidSignatureException"
	CodeExpiredToken               = "ExpiredTokenException"
)

// Error is a failed authentication. Code is one of the Code* constants and
// Message is the client-visible text, worded like AWS's where AWS's wording is
// known.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func fail(code, msg string) *Error { return &Error{Code: code, Message: msg} }

const (
	msgUnrecognized = "The security token included in the request is invalid."
	msgExpiredToken = "The security token included in the request is expired"
	msgMismatch     = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
	// msgPayloadMismatch answers an X-Amz-Content-Sha256 that is not the
	// body's hash.
	msgPayloadMismatch = "The provided 'x-amz-content-sha256' header does not match what was computed."
)

// clip bounds the client-supplied text echoed in messages.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
