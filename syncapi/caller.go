package syncapi

import "context"

// Caller is the authenticated principal of a request (spec A.6): either
// developer credentials (Developer true, AccountID set) or Cognito Identity
// credentials bound to one (PoolID, IdentityID).
type Caller struct {
	AccessKeyID string
	Developer   bool
	AccountID   string
	PoolID      string
	IdentityID  string
	// PoolGeneration is, for identity credentials, the generation of the
	// pool they were issued in (Pool.Generation): a pool deleted and
	// created again with the same id has another, and the credentials stop
	// working. 0 for developer credentials.
	PoolGeneration int64
	// Disabled is set, for identity credentials, when their identity was
	// disabled by a merge (spec G.5): the Service refuses them with
	// NotAuthorizedException. Stores fill it in on lookup.
	Disabled bool `json:"-"`
}

// Principal is what LastModifiedBy records for this caller: the account id for
// developer credentials, the identity id otherwise (spec C.12).
func (c Caller) Principal() string {
	if c.Developer {
		return c.AccountID
	}
	return c.IdentityID
}

type callerKey struct{}

// WithCaller returns a context carrying the authenticated caller.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller stored by WithCaller.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}
