package syncapi

import (
	"context"
	"errors"
)

// LoginFallback finds the identity of logins at the Cognito Identity that
// syncd replaces, during a move off it (`syncd --login-fallback`). AWS does
// not disclose the subjects of OpenID Connect and other third-party
// logins, so `syncd import` cannot link them; instead, the first time a
// valid login that no identity holds arrives, GetId asks the source with
// the same Logins and links the login to the imported identity it names.
type LoginFallback interface {
	// ResolveLogins returns the identity id the source gives the logins
	// (the raw Logins map of the GetId call); "" when it has none. An error
	// means the source could not answer.
	ResolveLogins(ctx context.Context, poolID string, logins map[string]string) (string, error)
}

// fallbackLogins resolves logins that no identity holds through
// ServiceConfig.LoginFallback and links them to the identity the source
// names, when this store holds it (imported). ok is false when a login is
// already linked here, or the source's identity is not here: GetId then
// goes on as usual.
func (s *Service) fallbackLogins(ctx context.Context, ls LoginStore, p Pool, raw map[string]string, logins []Login) (id string, ok bool, err error) {
	for _, l := range logins {
		if _, err := ls.FindLogin(ctx, p.ID(), l); err == nil {
			return "", false, nil
		} else if !errors.Is(err, ErrNotFound) {
			return "", false, err
		}
	}
	id, err = s.c.LoginFallback.ResolveLogins(ctx, p.ID(), raw)
	if err != nil {
		// Failing closed: a new identity now would leave the user's
		// imported data behind for good.
		s.c.Log.Warn("login fallback: the source did not answer GetId", "identity_pool", p.ID(), "err", err)
		return "", false, Errorf(ErrUnavailable, "the source of this pool's logins did not answer; try again")
	}
	if id == "" {
		return "", false, nil
	}
	if _, err := s.enabledIdentity(ctx, id); errors.Is(err, ErrNotFound) {
		s.c.Log.Info("login fallback: the source's identity was not imported; a new identity is created",
			"identity_pool", p.ID(), "source_identity", id)
		return "", false, nil
	} else if err != nil {
		return "", false, err
	}
	res, err := s.link(ctx, ls, LinkRequest{PoolID: p.ID(), IdentityID: id, Logins: logins, Conflict: MergeConflict})
	if err != nil {
		return "", false, err
	}
	s.c.Log.Info("login fallback: login linked to the imported identity", "identity_pool", p.ID(), "identity", res.IdentityID)
	return res.IdentityID, true, nil
}
