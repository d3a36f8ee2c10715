package syncapi

import (
	"context"
	"errors"
	"time"
)

// Logins of identities (spec G.5, G.6): the store side.

// Login is one login linked to an identity. Provider is the Logins key the
// client sends (a pool's DeveloperProviderName, an OpenID Connect issuer
// without scheme, "cognito-idp.<region>.amazonaws.com/<userPoolId>",
// "accounts.google.com", ...); Subject is the user at that provider (the
// developer user identifier, or the token's sub).
type Login struct {
	Provider string
	Subject  string
}

// IdentityInfo is an identity with its logins, ordered by (Provider,
// Subject), as DescribeIdentity and ListIdentities read it.
type IdentityInfo struct {
	Identity
	Logins   []Login
	Modified time.Time // last link, unlink or merge; zero: never
	// MergedInto is, for an identity disabled by a merge, the identity
	// that absorbed it.
	MergedInto string
}

// ConflictPolicy says what Link does with a login already linked to an
// identity other than the request's.
type ConflictPolicy int

const (
	// RefuseConflict fails the link with ErrDeveloperUserRegistered
	// (GetOpenIdTokenForDeveloperIdentity's rule).
	RefuseConflict ConflictPolicy = iota
	// MergeConflict merges the request's identity into the login's owner,
	// which survives (spec G.5: the identity that already owned the login).
	MergeConflict
)

// LinkRequest finds or creates the identity of a set of logins, in one
// transaction.
//
// Without IdentityID the logins' owner is the answer: when no login is
// linked yet, NewID is created (in PoolID) and every login linked to it;
// when logins are linked to several identities, Conflict decides (merge
// into the owner of the first login in Logins' order, or refuse).
//
// With IdentityID (an existing, enabled identity of PoolID, else
// ErrNotFound) every unlinked login is linked to it; a login linked to
// another identity is a conflict, merged or refused by Conflict.
//
// MaxLogins bounds the logins one identity holds after the link (0: no
// bound): ErrLimitExceeded beyond it.
type LinkRequest struct {
	PoolID     string
	IdentityID string
	NewID      string
	Logins     []Login
	Conflict   ConflictPolicy
	MaxLogins  int
	Now        time.Time
}

// LinkResult is the outcome of a committed Link.
type LinkResult struct {
	IdentityID string   // the identity that holds the logins now
	Created    bool     // IdentityID was created by this link (NewID)
	Merged     []string // identities merged into IdentityID by this link
}

// MergeResult is the outcome of a committed Merge.
type MergeResult struct {
	// Copies are the datasets created under the winner: "<name>.<loser>"
	// for each live dataset of the loser (spec C.10).
	Copies []string
	// Already is true when the loser was merged into the winner before:
	// nothing changed (two replicas racing to merge one pair).
	Already bool
}

// SigningKey is a private key syncd signs OpenID tokens with, kept in the
// store so that every replica signs and verifies alike. PEM holds a PKCS #8
// private key.
type SigningKey struct {
	ID      string // the JWT kid
	PEM     string
	Created time.Time
}

// ErrDeveloperUserRegistered is a developer user already linked to another
// identity (DeveloperUserAlreadyRegisteredException 400).
var ErrDeveloperUserRegistered = errors.New("developer user already registered")

// LoginStore keeps identities' logins, their merges, syncd's signing keys
// and pools' roles. Stores that serve logged-in users implement it beside
// Store (found by type assertion). Safe for concurrent use, also by several
// processes sharing one database.
type LoginStore interface {
	// FindLogin returns the identity the login is linked to in the pool;
	// ErrNotFound if none.
	FindLogin(ctx context.Context, poolID string, l Login) (string, error)
	// DescribeIdentity returns the identity with its logins; ErrNotFound if
	// it does not exist.
	DescribeIdentity(ctx context.Context, identityID string) (IdentityInfo, error)
	// ListIdentities returns up to limit identities of the pool ordered by
	// id, after `after` (exclusive; "": from the start), without disabled
	// ones when hideDisabled.
	ListIdentities(ctx context.Context, poolID, after string, limit int, hideDisabled bool) ([]IdentityInfo, error)
	// ListLogins returns up to limit logins of the pool at provider,
	// ordered by subject after `after`, of identityID only when it is not
	// "".
	ListLogins(ctx context.Context, poolID, provider, identityID, after string, limit int) ([]Login, error)

	// Link finds or creates the identity of logins (LinkRequest).
	Link(ctx context.Context, r LinkRequest) (LinkResult, error)
	// Unlink removes the login from the identity; ErrNotFound if the
	// identity does not hold it.
	Unlink(ctx context.Context, poolID, identityID string, l Login, now time.Time) error
	// Merge merges loser into winner in one transaction: the loser's
	// logins move to the winner, each live dataset N of the loser is copied
	// under the winner as "N.<loser>" (SyncCount 1, the loser's live
	// records; no dataset limit applies) and the loser is disabled, its
	// credentials refused from then on. Both must be identities of
	// poolID (ErrNotFound); a loser merged into winner before is Already;
	// one that is disabled otherwise, or a disabled winner, is ErrConflict.
	Merge(ctx context.Context, poolID, winner, loser string, now time.Time) (MergeResult, error)
	// DeleteIdentity deletes an identity with its logins and credentials;
	// ErrNotFound if it does not exist.
	DeleteIdentity(ctx context.Context, identityID string) error

	// SigningKeys returns the kept signing keys, newest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// AddSigningKey stores k and keeps only the keep newest keys (keep
	// >= 1). With ifNone it stores k only when no key exists (first start;
	// replicas starting together then agree on the keys SigningKeys
	// returns).
	AddSigningKey(ctx context.Context, k SigningKey, keep int, ifNone bool) error

	// PoolRoles returns the roles and role mappings SetIdentityPoolRoles
	// stored, as JSON (nil: none); ErrNotFound for a missing pool.
	PoolRoles(ctx context.Context, poolID string) ([]byte, error)
	// SetPoolRoles replaces them; ErrNotFound for a missing pool.
	SetPoolRoles(ctx context.Context, poolID string, roles []byte) error
}

// MergedDatasetName is the name of the copy of a merged identity's dataset
// under the surviving identity: "<name>.<loserIdentityID>" (spec C.10). AWS
// does not document names past 128 characters; the root is shortened so the
// copy stays a valid dataset name.
func MergedDatasetName(name, loser string) string {
	suffix := "." + loser
	if len(name)+len(suffix) > 128 {
		name = name[:max(0, 128-len(suffix))]
	}
	return name + suffix
}
