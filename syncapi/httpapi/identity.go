package httpapi

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

// identityOp is one Cognito Identity operation of the served subset (spec G.2).
type identityOp struct {
	// signed operations authenticate with the cognito-identity signing name
	// and carry the caller; GetId, GetCredentialsForIdentity, GetOpenIdToken
	// and UnlinkIdentity are
	// `authtype: none` in the model, so SDKs send them unsigned and any
	// signature present is ignored (spec G.1).
	signed bool
	call   func(ctx context.Context, api syncapi.IdentityAPI, body []byte, x *exchange) (any, error)
}

// identityOps is keyed by the X-Amz-Target operation name.
var identityOps = map[string]identityOp{
	"CreateIdentityPool": {signed: true, call: func(ctx context.Context, api syncapi.IdentityAPI, body []byte, x *exchange) (any, error) {
		var in syncapi.IdentityPool
		if err := decodeBody(body, &in); err != nil {
			return nil, err
		}
		return api.CreateIdentityPool(ctx, in)
	}},
	"DescribeIdentityPool": {signed: true, call: func(ctx context.Context, api syncapi.IdentityAPI, body []byte, x *exchange) (any, error) {
		var in syncapi.IdentityPoolIDInput
		if err := decodeBody(body, &in); err != nil {
			return nil, err
		}
		x.pool = in.IdentityPoolID
		return api.DescribeIdentityPool(ctx, in)
	}},
	"ListIdentityPools": {signed: true, call: func(ctx context.Context, api syncapi.IdentityAPI, body []byte, x *exchange) (any, error) {
		var in syncapi.ListIdentityPoolsInput
		if err := decodeBody(body, &in); err != nil {
			return nil, err
		}
		out, err := api.ListIdentityPools(ctx, in)
		if out.IdentityPools == nil {
			out.IdentityPools = []syncapi.IdentityPoolShort{}
		}
		return out, err
	}},
	"UpdateIdentityPool": {signed: true, call: func(ctx context.Context, api syncapi.IdentityAPI, body []byte, x *exchange) (any, error) {
		var in syncapi.IdentityPool
		if err := decodeBody(body, &in); err != nil {
			return nil, err
		}
		x.pool = in.IdentityPoolID
		return api.UpdateIdentityPool(ctx, in)
	}},
	"DeleteIdentityPool": {signed: true, call: func(ctx context.Context, api syncapi.IdentityAPI, body []byte, x *exchange) (any, error) {
		var in syncapi.IdentityPoolIDInput
		if err := decodeBody(body, &in); err != nil {
			return nil, err
		}
		x.pool = in.IdentityPoolID
		return empty, api.DeleteIdentityPool(ctx, in)
	}},
	"GetId": {call: func(ctx context.Context, api syncapi.IdentityAPI, body []byte, x *exchange) (any, error) {
		var in syncapi.GetIDInput
		if err := decodeBody(body, &in); err != nil {
			return nil, err
		}
		x.pool = in.IdentityPoolID
		return api.GetID(ctx, in)
	}},
	"GetCredentialsForIdentity": {call: func(ctx context.Context, api syncapi.IdentityAPI, body []byte, x *exchange) (any, error) {
		var in syncapi.GetCredentialsForIdentityInput
		if err := decodeBody(body, &in); err != nil {
			return nil, err
		}
		return api.GetCredentialsForIdentity(ctx, in)
	}},
	// Logged-in identities (spec G.6, identity_logins.go).
	"GetOpenIdToken": loginOp(false, syncapi.IdentityAPI.GetOpenIDToken, nil),
	"UnlinkIdentity": loginOp(false, noOutput(syncapi.IdentityAPI.UnlinkIdentity), nil),
	"GetOpenIdTokenForDeveloperIdentity": loginOp(true, syncapi.IdentityAPI.GetOpenIDTokenForDeveloperIdentity,
		func(in syncapi.GetOpenIDTokenForDeveloperIdentityInput) string { return in.IdentityPoolID }),
	"LookupDeveloperIdentity": loginOp(true, syncapi.IdentityAPI.LookupDeveloperIdentity,
		func(in syncapi.LookupDeveloperIdentityInput) string { return in.IdentityPoolID }),
	"MergeDeveloperIdentities": loginOp(true, syncapi.IdentityAPI.MergeDeveloperIdentities,
		func(in syncapi.MergeDeveloperIdentitiesInput) string { return in.IdentityPoolID }),
	"UnlinkDeveloperIdentity": loginOp(true, noOutput(syncapi.IdentityAPI.UnlinkDeveloperIdentity),
		func(in syncapi.UnlinkDeveloperIdentityInput) string { return in.IdentityPoolID }),
	"DescribeIdentity": loginOp(true, syncapi.IdentityAPI.DescribeIdentity, nil),
	"ListIdentities": loginOp(true, syncapi.IdentityAPI.ListIdentities,
		func(in syncapi.ListIdentitiesInput) string { return in.IdentityPoolID }),
	"DeleteIdentities": loginOp(true, syncapi.IdentityAPI.DeleteIdentities, nil),
	"GetIdentityPoolRoles": loginOp(true, syncapi.IdentityAPI.GetIdentityPoolRoles,
		func(in syncapi.IdentityPoolIDInput) string { return in.IdentityPoolID }),
	"SetIdentityPoolRoles": loginOp(true, noOutput(syncapi.IdentityAPI.SetIdentityPoolRoles),
		func(in syncapi.IdentityPoolRoles) string { return in.IdentityPoolID }),
}

// serveIdentity serves POST / (awsJson1.1, spec G.1). The Content-Type is not
// checked: the target header alone names the operation, so a signed call
// must sign it, or its signature could be replayed as another operation.
// Nothing reads the body before the target is known, the signature headers
// checked (signed operations), or the address throttle passed and the body
// found within MaxUnsignedBodyBytes (unsigned ones).
func (h *handler) serveIdentity(w http.ResponseWriter, r *http.Request, x *exchange) (any, error) {
	if r.Method != http.MethodPost {
		return nil, &wireError{code: CodeUnknownOperation, status: http.StatusMethodNotAllowed, allow: http.MethodPost,
			message: "method " + sanitize(r.Method) + " is not allowed on /; allowed: POST"}
	}
	target := r.Header.Get("X-Amz-Target")
	name, found := strings.CutPrefix(target, IdentityTargetPrefix)
	op, known := identityOps[name]
	if !found || !known {
		return nil, syncapi.Errorf(syncapi.ErrUnknownOperation, "unknown operation %q", sanitize(target))
	}
	x.op = name
	if op.signed {
		ctx, body, err := h.authenticate(w, r, x, IdentitySigningName, "x-amz-target")
		if err != nil {
			return nil, err
		}
		return op.call(ctx, h.identity, body, x)
	}
	if l := h.addressLimits[name]; l != nil && !l.Allow(clientAddress(r, h.addressHeader)) {
		return nil, errRateExceeded
	}
	if h.unsignedTimeout > 0 {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.unsignedTimeout))
	}
	body, _, err := h.readBody(w, r, x, h.maxUnsignedBody)
	if err != nil {
		return nil, err
	}
	return op.call(r.Context(), h.identity, body, x)
}

// errRateExceeded is AWS's TooManyRequestsException text for the Cognito
// Identity quotas.
var errRateExceeded = syncapi.Errorf(syncapi.ErrTooManyRequests, "Rate exceeded")

// clientAddress is the key of the per-address throttles: the last value of
// the header when set (what the nearest proxy saw), else the peer address;
// an IPv6 address as its /64, which one host or subscriber usually has.
func clientAddress(r *http.Request, header string) string {
	s := ""
	if header != "" {
		if vs := r.Header.Values(header); len(vs) > 0 {
			s = vs[len(vs)-1]
			if i := strings.LastIndexByte(s, ','); i >= 0 {
				s = s[i+1:]
			}
			s = strings.TrimSpace(s)
		}
	}
	if s == "" {
		s = r.RemoteAddr
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return sanitize(s) // not an address; still a bounded key
		}
		a = ap.Addr()
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
