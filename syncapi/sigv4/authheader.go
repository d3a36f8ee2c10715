package sigv4

import (
	"strings"
)

const (
	algorithm  = "AWS4-HMAC-SHA256"
	terminator = "aws4_request"
	// amzDateLayout is ISO 8601 basic format, the only X-Amz-Date form SigV4 signs.
	amzDateLayout = "20060102T150405Z"
)

// authorization is a parsed "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." header.
type authorization struct {
	accessKeyID string
	scopeDate   string // yyyymmdd
	region      string
	service     string
	terminator  string

	signedHeaders string   // exactly as sent
	signed        []string // signedHeaders split; lower case, strictly ascending
	signature     string
}

// scope is the credential scope, the third line of the string to sign.
func (a *authorization) scope() string {
	return a.scopeDate + "/" + a.region + "/" + a.service + "/" + a.terminator
}

// isSigned reports whether the lower-case header name is in SignedHeaders.
func (a *authorization) isSigned(name string) bool {
	for _, s := range a.signed {
		if s == name {
			return true
		}
	}
	return false
}

// parseAuthorization parses the header. Every failure is
// IncompleteSignatureException, worded like AWS's messages.
func parseAuthorization(h string) (authorization, *Error) {
	var a authorization
	alg, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if alg != algorithm {
		return a, fail(CodeIncompleteSignature, "Unsupported AWS 'algorithm': '"+clip(alg)+"'. Only '"+algorithm+"' is supported.")
	}
	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for _, part := range strings.Split(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return a, fail(CodeIncompleteSignature, "Authorization header has a malformed component: '"+clip(part)+"'.")
		}
		var dst *string
		var seen *bool
		switch k {
		case "Credential":
			dst, seen = &cred, &haveCred
		case "SignedHeaders":
			dst, seen = &signed, &haveSigned
		case "Signature":
			dst, seen = &sig, &haveSig
		default:
			continue // AWS ignores components it does not know
		}
		if *seen {
			return a, fail(CodeIncompleteSignature, "Authorization header has a repeated '"+k+"' parameter.")
		}
		*dst, *seen = v, true
	}
	var missing []string
	if !haveCred {
		missing = append(missing, "Authorization header requires 'Credential' parameter.")
	}
	if !haveSig {
		missing = append(missing, "Authorization header requires 'Signature' parameter.")
	}
	if !haveSigned {
		missing = append(missing, "Authorization header requires 'SignedHeaders' parameter.")
	}
	if len(missing) > 0 {
		return a, fail(CodeIncompleteSignature, strings.Join(missing, " "))
	}

	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" {
		return a, fail(CodeIncompleteSignature, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '"+clip(cred)+"'")
	}
	a.accessKeyID, a.scopeDate, a.region, a.service, a.terminator = parts[0], parts[1], parts[2], parts[3], parts[4]

	a.signedHeaders, a.signature = signed, sig
	a.signed = strings.Split(signed, ";")
	for i, name := range a.signed {
		if !isLowerToken(name) || (i > 0 && a.signed[i-1] >= name) {
			// SigV4 requires lower-case names, sorted, once each; a client that
			// sent anything else cannot have built a canonical request we
			// could reproduce.
			return a, fail(CodeIncompleteSignature, "SignedHeaders must be a sorted, semicolon-separated list of distinct lower-case header names, got '"+clip(signed)+"'.")
		}
	}
	return a, nil
}

// isLowerToken reports whether s is a non-empty HTTP token (RFC 9110) without
// upper-case letters.
func isLowerToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
