package httpapi

import (
	"context"

	"github.com/cognitosync/cognitosync/syncapi"
)

// loginOp builds an operation that decodes In and calls fn; pool, when
// set, names the pool for the access log.
func loginOp[In any, Out any](signed bool, fn func(api syncapi.IdentityAPI, ctx context.Context, in In) (Out, error), pool func(In) string) identityOp {
	return identityOp{signed: signed, call: func(ctx context.Context, api syncapi.IdentityAPI, body []byte, x *exchange) (any, error) {
		var in In
		if err := decodeBody(body, &in); err != nil {
			return nil, err
		}
		if pool != nil {
			x.pool = pool(in)
		}
		return fn(api, ctx, in)
	}}
}

// noOutput adapts an operation without output: AWS answers {}.
func noOutput[In any](fn func(api syncapi.IdentityAPI, ctx context.Context, in In) error) func(api syncapi.IdentityAPI, ctx context.Context, in In) (any, error) {
	return func(api syncapi.IdentityAPI, ctx context.Context, in In) (any, error) {
		return empty, fn(api, ctx, in)
	}
}
