package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/cognitosync/cognitosync/syncapi"
)

// identityOp is one Cognito Identity operation of the served subset (spec G.2).
type identityOp struct {
	// signed operations authenticate with the cognito-identity signing name
	// and carry the caller; GetId and GetCredentialsForIdentity are
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
}

// serveIdentity serves POST / (awsJson1.1, spec G.1). The Content-Type is not
// checked: the target header alone names the operation.
func (h *handler) serveIdentity(w http.ResponseWriter, r *http.Request, x *exchange) (any, error) {
	if r.Method != http.MethodPost {
		return nil, &wireError{code: CodeUnknownOperation, status: http.StatusMethodNotAllowed, allow: http.MethodPost,
			message: "method " + sanitize(r.Method) + " is not allowed on /; allowed: POST"}
	}
	body, err := h.readBody(w, r)
	if err != nil {
		return nil, err
	}
	target := r.Header.Get("X-Amz-Target")
	name, found := strings.CutPrefix(target, IdentityTargetPrefix)
	op, known := identityOps[name]
	if !found || !known {
		return nil, syncapi.Errorf(syncapi.ErrUnknownOperation, "unknown operation %q", sanitize(target))
	}
	x.op = name
	ctx := r.Context()
	if op.signed {
		if ctx, err = h.authenticate(r, body, IdentitySigningName); err != nil {
			return nil, err
		}
	}
	return op.call(ctx, h.identity, body, x)
}
