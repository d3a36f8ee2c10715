package syncapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Logged-in identities (spec G.3, G.5, G.6): developer-authenticated
// identities, OpenID Connect logins and merges.

// Token lifetimes (spec G.6): GetOpenIdTokenForDeveloperIdentity's default
// and bounds, and GetOpenIdToken's (AWS: valid for 10 minutes).
const (
	DefaultDeveloperTokenTTL = 15 * time.Minute
	OpenIDTokenTTL           = 10 * time.Minute
	maxTokenDuration         = 86400
	// maxLinkedLogins bounds the logins of one identity: AWS allows 10
	// providers in a Logins map, and 20 linked logins after
	// MergeDeveloperIdentities.
	maxLinkedLogins = 20
	// mergedTTL is how long a process remembers identities it disabled by
	// a merge, to refuse their credentials at once even while the
	// authenticator's cache (1 min by default) still holds them; other
	// processes learn it from the store when their cache entry expires.
	mergedTTL = 5 * time.Minute
)

// Providers whose tokens can only be checked with a call to the vendor's
// API; syncd does not make those calls (issue: logged-in users).
var vendorAPIProviders = map[string]string{
	"graph.facebook.com": "Facebook",
	"www.amazon.com":     "Login with Amazon",
	"api.twitter.com":    "Twitter",
	"www.digits.com":     "Digits",
}

func (s *Service) logins() (LoginStore, error) {
	if s.c.Logins == nil {
		return nil, Errorf(ErrNotAuthorized, "This syncd's store does not keep logins.")
	}
	return s.c.Logins, nil
}

func (s *Service) tokens() (LoginTokens, error) {
	if s.c.Tokens == nil {
		return nil, Errorf(ErrNotAuthorized, "This syncd does not verify or issue login tokens; use unauthenticated identities (omit Logins).")
	}
	return s.c.Tokens, nil
}

// noteMerged remembers identities this process disabled (mergedTTL).
func (s *Service) noteMerged(ids ...string) {
	for _, id := range ids {
		s.merged.Add(id, struct{}{})
	}
}

func (s *Service) isMerged(c Caller) bool {
	if c.Developer {
		return false
	}
	if c.Disabled {
		return true
	}
	_, ok := s.merged.Get(c.IdentityID)
	return ok
}

// errLoginsMismatch is AWS's answer to an authenticated identity asked for
// without a login of its own.
func errLoginsMismatch() error {
	return Errorf(ErrNotAuthorized, "Logins don't match. Please include at least one valid login for this identity or identity pool.")
}

func validateLogins(logins map[string]string, required bool) error {
	if required && len(logins) == 0 {
		return invalid("Logins", "at least one login is required")
	}
	if len(logins) > 10 {
		return invalid("Logins", "at most 10 logins, got %d", len(logins))
	}
	for k, v := range logins {
		if err := checkLen("Logins key", k, 1, 128); err != nil {
			return err
		}
		if err := checkLen("Logins["+k+"]", v, 1, 50000); err != nil {
			return err
		}
		if err := ValidateText("Logins", k+v); err != nil {
			return err
		}
	}
	return nil
}

// sortedKeys returns the map's keys in order, so that the first login (the
// one whose owner survives a merge) does not depend on map order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// verifyLogins checks every token of an unsigned call for pool p. It
// returns the third-party logins and the identity a syncd OpenID token
// proves ("" when none was presented).
func (s *Service) verifyLogins(ctx context.Context, p IdentityPool, logins map[string]string) ([]Login, string, error) {
	tk, err := s.tokens()
	if err != nil {
		return nil, "", err
	}
	var out []Login
	proven := ""
	for _, provider := range sortedKeys(logins) {
		if provider == p.DeveloperProviderName {
			return nil, "", Errorf(ErrNotAuthorized, "Invalid login token. Logins of the developer provider %s come from GetOpenIdTokenForDeveloperIdentity: present its token under %s.", provider, CognitoIdentityProviderName)
		}
		if vendor, ok := vendorAPIProviders[provider]; ok {
			return nil, "", Errorf(ErrNotAuthorized, "Invalid login token. syncd cannot verify %s tokens: they need a call to %s's API. Log users in through an OpenID Connect provider or a Cognito user pool, or vouch for them with a developer provider.", vendor, vendor)
		}
		sub, err := tk.VerifyLogin(ctx, p, provider, logins[provider])
		if err != nil {
			return nil, "", err
		}
		if provider == CognitoIdentityProviderName {
			proven = sub
			continue
		}
		out = append(out, Login{Provider: provider, Subject: sub})
	}
	return out, proven, nil
}

// GetID with Logins: the identity of the logins, created when new (spec G.3).
func (s *Service) getIDWithLogins(ctx context.Context, p Pool, in GetIDInput) (GetIDOutput, error) {
	if err := validateLogins(in.Logins, true); err != nil {
		return GetIDOutput{}, err
	}
	ls, err := s.logins()
	if err != nil {
		return GetIDOutput{}, err
	}
	logins, proven, err := s.verifyLogins(ctx, p.Identity, in.Logins)
	if err != nil {
		return GetIDOutput{}, err
	}
	if proven != "" {
		if _, err := s.enabledIdentity(ctx, proven); err != nil {
			return GetIDOutput{}, err
		}
		if len(logins) == 0 {
			return GetIDOutput{IdentityID: proven}, nil
		}
	}
	if proven == "" && len(logins) > 0 && s.c.LoginFallback != nil {
		if id, ok, err := s.fallbackLogins(ctx, ls, p, in.Logins, logins); err != nil { // login_fallback.go
			return GetIDOutput{}, err
		} else if ok {
			return GetIDOutput{IdentityID: id}, nil
		}
	}
	res, err := s.link(ctx, ls, LinkRequest{PoolID: p.ID(), IdentityID: proven, NewID: s.newIdentityID(p.ID()), Logins: logins, Conflict: MergeConflict})
	if err != nil {
		return GetIDOutput{}, err
	}
	return GetIDOutput{IdentityID: res.IdentityID}, nil
}

func (s *Service) newIdentityID(poolID string) string {
	region, _, _ := strings.Cut(poolID, ":")
	return region + ":" + NewUUID()
}

// link runs a LinkRequest, remembering merged identities.
func (s *Service) link(ctx context.Context, ls LoginStore, r LinkRequest) (LinkResult, error) {
	r.Now = s.now()
	if r.MaxLogins == 0 {
		r.MaxLogins = maxLinkedLogins
	}
	res, err := ls.Link(ctx, r)
	if errors.Is(err, ErrNotFound) {
		return res, Errorf(ErrNotFound, "Identity '%s' not found.", r.IdentityID)
	}
	if err != nil {
		return res, fmt.Errorf("link logins: %w", err)
	}
	s.noteMerged(res.Merged...)
	if len(res.Merged) > 0 {
		s.c.Log.Info("identities merged", "identity_pool", r.PoolID, "identity", res.IdentityID, "merged", res.Merged)
	}
	return res, nil
}

// enabledIdentity returns an identity that exists and is not disabled.
func (s *Service) enabledIdentity(ctx context.Context, id string) (IdentityInfo, error) {
	var info IdentityInfo
	var err error
	if s.c.Logins != nil {
		info, err = s.c.Logins.DescribeIdentity(ctx, id)
	} else {
		info.Identity, err = s.c.Store.GetIdentity(ctx, id)
	}
	if errors.Is(err, ErrNotFound) {
		return info, Errorf(ErrNotFound, "Identity '%s' not found.", id)
	}
	if err != nil {
		return info, err
	}
	if info.Disabled {
		return info, Errorf(ErrNotAuthorized, "Identity '%s' is disabled.", id)
	}
	return info, nil
}

// loginIdentity resolves the identity an unsigned call with IdentityId and
// Logins acts for (GetCredentialsForIdentity, GetOpenIdToken): the
// identity itself, or the owner of a presented login it was merged into.
// It refuses an authenticated identity without a valid login of its own, a
// guest of a pool that forbids guests, and a disabled identity.
func (s *Service) loginIdentity(ctx context.Context, identityID string, logins map[string]string) (IdentityInfo, Pool, error) {
	if err := validateLogins(logins, false); err != nil {
		return IdentityInfo{}, Pool{}, err
	}
	info, err := s.enabledIdentity(ctx, identityID)
	if err != nil {
		return info, Pool{}, err
	}
	p, err := s.pool(ctx, info.PoolID)
	if err != nil {
		return info, p, err
	}
	if len(logins) == 0 {
		if len(info.Logins) > 0 {
			return info, p, errLoginsMismatch()
		}
		if !p.Identity.AllowUnauthenticatedIdentities {
			return info, p, Errorf(ErrNotAuthorized, "Unauthenticated access is not supported for this identity pool.")
		}
		return info, p, nil
	}
	ls, err := s.logins()
	if err != nil {
		return info, p, err
	}
	verified, proven, err := s.verifyLogins(ctx, p.Identity, logins)
	if err != nil {
		return info, p, err
	}
	if proven != "" && proven != identityID {
		return info, p, Errorf(ErrNotAuthorized, "Invalid login token. The %s token was issued for another identity.", CognitoIdentityProviderName)
	}
	if len(verified) == 0 {
		return info, p, nil // proven by syncd's own token
	}
	res, err := s.link(ctx, ls, LinkRequest{PoolID: p.ID(), IdentityID: identityID, Logins: verified, Conflict: MergeConflict})
	if err != nil {
		return info, p, err
	}
	if res.IdentityID != identityID || len(info.Logins) == 0 {
		if info, err = s.enabledIdentity(ctx, res.IdentityID); err != nil {
			return info, p, err
		}
	}
	return info, p, nil
}

// amr is the amr claim of an identity's token (spec G.6).
func amr(info IdentityInfo, poolID string) []string {
	if len(info.Logins) == 0 {
		return []string{"unauthenticated"}
	}
	out := []string{"authenticated"}
	for _, l := range info.Logins {
		if !slices.Contains(out, l.Provider) {
			out = append(out, l.Provider)
		}
	}
	for _, l := range info.Logins {
		out = append(out, l.Provider+":"+poolID+":"+l.Subject)
	}
	return out
}

// GetOpenIDToken returns an OpenID token of the identity (unsigned call,
// spec G.6), valid OpenIDTokenTTL.
func (s *Service) GetOpenIDToken(ctx context.Context, in GetOpenIDTokenInput) (OpenIDTokenOutput, error) {
	if err := ValidateIdentityID(in.IdentityID); err != nil {
		return OpenIDTokenOutput{}, err
	}
	tk, err := s.tokens()
	if err != nil {
		return OpenIDTokenOutput{}, err
	}
	info, p, err := s.loginIdentity(ctx, in.IdentityID, in.Logins)
	if err != nil {
		return OpenIDTokenOutput{}, err
	}
	if s.c.GetCredentialsLimit != nil && !s.c.GetCredentialsLimit.Allow(p.ID()) {
		return OpenIDTokenOutput{}, errRateExceeded
	}
	tok, err := tk.IssueToken(ctx, OpenIDToken{PoolID: p.ID(), IdentityID: info.ID, AMR: amr(info, p.ID()), TTL: OpenIDTokenTTL})
	if err != nil {
		return OpenIDTokenOutput{}, fmt.Errorf("issue token: %w", err)
	}
	return OpenIDTokenOutput{IdentityID: info.ID, Token: tok}, nil
}

// developerPool loads the pool of a developer-provider call and checks its
// DeveloperProviderName (name "": any).
func (s *Service) developerPool(ctx context.Context, poolID, name string) (Pool, error) {
	if err := ValidatePoolID(poolID); err != nil {
		return Pool{}, err
	}
	p, err := s.pool(ctx, poolID)
	if err != nil {
		return p, err
	}
	if p.Identity.DeveloperProviderName == "" {
		return p, Errorf(ErrNotAuthorized, "Identity pool '%s' has no DeveloperProviderName; set one with UpdateIdentityPool to use developer-authenticated identities.", poolID)
	}
	if name != "" && name != p.Identity.DeveloperProviderName {
		return p, invalid("DeveloperProviderName", "%q is not the developer provider of identity pool %s", name, poolID)
	}
	return p, nil
}

func validateDeveloperUser(field, v string) error {
	if err := checkLen(field, v, 1, 1024); err != nil {
		return err
	}
	return ValidateText(field, v)
}

// GetOpenIDTokenForDeveloperIdentity creates or finds the identity of a
// developer user, links other logins of the request to it, and returns a
// token for it (developer credentials, spec G.6).
func (s *Service) GetOpenIDTokenForDeveloperIdentity(ctx context.Context, in GetOpenIDTokenForDeveloperIdentityInput) (OpenIDTokenOutput, error) {
	if err := s.developer(ctx, "GetOpenIdTokenForDeveloperIdentity"); err != nil {
		return OpenIDTokenOutput{}, err
	}
	if err := ValidatePoolID(in.IdentityPoolID); err != nil {
		return OpenIDTokenOutput{}, err
	}
	if in.IdentityID != "" {
		if err := ValidateIdentityID(in.IdentityID); err != nil {
			return OpenIDTokenOutput{}, err
		}
	}
	if err := validateLogins(in.Logins, true); err != nil {
		return OpenIDTokenOutput{}, err
	}
	ttl := DefaultDeveloperTokenTTL
	if in.TokenDuration != nil {
		if *in.TokenDuration < 1 || *in.TokenDuration > maxTokenDuration {
			return OpenIDTokenOutput{}, invalid("TokenDuration", "must be between 1 and %d seconds", maxTokenDuration)
		}
		ttl = time.Duration(*in.TokenDuration) * time.Second
	}
	if len(in.PrincipalTags) > 50 {
		return OpenIDTokenOutput{}, invalid("PrincipalTags", "at most 50 tags")
	}
	p, err := s.developerPool(ctx, in.IdentityPoolID, "")
	if err != nil {
		return OpenIDTokenOutput{}, err
	}
	tk, err := s.tokens()
	if err != nil {
		return OpenIDTokenOutput{}, err
	}
	ls, err := s.logins()
	if err != nil {
		return OpenIDTokenOutput{}, err
	}
	dev := p.Identity.DeveloperProviderName
	user, ok := in.Logins[dev]
	if !ok {
		return OpenIDTokenOutput{}, invalid("Logins", "must hold the pool's developer provider %q with the developer user identifier", dev)
	}
	if err := validateDeveloperUser("Logins["+dev+"]", user); err != nil {
		return OpenIDTokenOutput{}, err
	}
	others := make(map[string]string, len(in.Logins))
	for k, v := range in.Logins {
		if k != dev {
			if k == CognitoIdentityProviderName {
				return OpenIDTokenOutput{}, invalid("Logins", "%s is not a login provider", k)
			}
			others[k] = v
		}
	}
	logins := []Login{{Provider: dev, Subject: user}}
	if len(others) > 0 {
		verified, _, err := s.verifyLogins(ctx, p.Identity, others)
		if err != nil {
			return OpenIDTokenOutput{}, err
		}
		logins = append(logins, verified...)
	}
	res, err := s.link(ctx, ls, LinkRequest{PoolID: p.ID(), IdentityID: in.IdentityID, NewID: s.newIdentityID(p.ID()), Logins: logins, Conflict: RefuseConflict})
	if err != nil {
		return OpenIDTokenOutput{}, err
	}
	info, err := ls.DescribeIdentity(ctx, res.IdentityID)
	if err != nil {
		return OpenIDTokenOutput{}, fmt.Errorf("describe identity: %w", err)
	}
	tok, err := tk.IssueToken(ctx, OpenIDToken{PoolID: p.ID(), IdentityID: res.IdentityID, AMR: amr(info, p.ID()), TTL: ttl, PrincipalTags: in.PrincipalTags})
	if err != nil {
		return OpenIDTokenOutput{}, fmt.Errorf("issue token: %w", err)
	}
	return OpenIDTokenOutput{IdentityID: res.IdentityID, Token: tok}, nil
}

// MergeDeveloperIdentities merges the source user's identity into the
// destination user's (developer credentials, spec G.5, G.6).
func (s *Service) MergeDeveloperIdentities(ctx context.Context, in MergeDeveloperIdentitiesInput) (IdentityIDOutput, error) {
	if err := s.developer(ctx, "MergeDeveloperIdentities"); err != nil {
		return IdentityIDOutput{}, err
	}
	if err := validateDeveloperUser("SourceUserIdentifier", in.SourceUserIdentifier); err != nil {
		return IdentityIDOutput{}, err
	}
	if err := validateDeveloperUser("DestinationUserIdentifier", in.DestinationUserIdentifier); err != nil {
		return IdentityIDOutput{}, err
	}
	if err := checkLen("DeveloperProviderName", in.DeveloperProviderName, 1, 128); err != nil {
		return IdentityIDOutput{}, err
	}
	p, err := s.developerPool(ctx, in.IdentityPoolID, in.DeveloperProviderName)
	if err != nil {
		return IdentityIDOutput{}, err
	}
	ls, err := s.logins()
	if err != nil {
		return IdentityIDOutput{}, err
	}
	find := func(user string) (IdentityInfo, error) {
		id, err := ls.FindLogin(ctx, p.ID(), Login{Provider: in.DeveloperProviderName, Subject: user})
		if errors.Is(err, ErrNotFound) {
			return IdentityInfo{}, Errorf(ErrNotFound, "Developer user '%s' not found.", user)
		}
		if err != nil {
			return IdentityInfo{}, err
		}
		return ls.DescribeIdentity(ctx, id)
	}
	src, err := find(in.SourceUserIdentifier)
	if err != nil {
		return IdentityIDOutput{}, err
	}
	dst, err := find(in.DestinationUserIdentifier)
	if err != nil {
		return IdentityIDOutput{}, err
	}
	if src.ID == dst.ID {
		return IdentityIDOutput{IdentityID: dst.ID}, nil
	}
	if len(src.Logins)+len(dst.Logins) > maxLinkedLogins {
		return IdentityIDOutput{}, Errorf(ErrConflict, "The merged identity would have more than %d linked logins.", maxLinkedLogins)
	}
	res, err := ls.Merge(ctx, p.ID(), dst.ID, src.ID, s.now())
	if err != nil {
		return IdentityIDOutput{}, fmt.Errorf("merge identities: %w", err)
	}
	s.noteMerged(src.ID)
	s.c.Log.Info("identities merged", "identity_pool", p.ID(), "identity", dst.ID, "merged", src.ID, "copies", res.Copies)
	return IdentityIDOutput{IdentityID: dst.ID}, nil
}

// UnlinkDeveloperIdentity unlinks a developer user from an identity
// (developer credentials).
func (s *Service) UnlinkDeveloperIdentity(ctx context.Context, in UnlinkDeveloperIdentityInput) error {
	if err := s.developer(ctx, "UnlinkDeveloperIdentity"); err != nil {
		return err
	}
	if err := ValidateIdentityID(in.IdentityID); err != nil {
		return err
	}
	if err := validateDeveloperUser("DeveloperUserIdentifier", in.DeveloperUserIdentifier); err != nil {
		return err
	}
	if err := checkLen("DeveloperProviderName", in.DeveloperProviderName, 1, 128); err != nil {
		return err
	}
	p, err := s.developerPool(ctx, in.IdentityPoolID, in.DeveloperProviderName)
	if err != nil {
		return err
	}
	ls, err := s.logins()
	if err != nil {
		return err
	}
	err = ls.Unlink(ctx, p.ID(), in.IdentityID, Login{Provider: in.DeveloperProviderName, Subject: in.DeveloperUserIdentifier}, s.now())
	if errors.Is(err, ErrNotFound) {
		return Errorf(ErrNotFound, "Developer user '%s' is not linked to identity '%s'.", in.DeveloperUserIdentifier, in.IdentityID)
	}
	return err
}

// UnlinkIdentity unlinks providers from an identity; Logins must prove the
// caller owns it (unsigned call).
func (s *Service) UnlinkIdentity(ctx context.Context, in UnlinkIdentityInput) error {
	if err := ValidateIdentityID(in.IdentityID); err != nil {
		return err
	}
	if err := validateLogins(in.Logins, true); err != nil {
		return err
	}
	if len(in.LoginsToRemove) == 0 {
		return invalid("LoginsToRemove", "is required")
	}
	info, err := s.enabledIdentity(ctx, in.IdentityID)
	if err != nil {
		return err
	}
	p, err := s.pool(ctx, info.PoolID)
	if err != nil {
		return err
	}
	ls, err := s.logins()
	if err != nil {
		return err
	}
	verified, proven, err := s.verifyLogins(ctx, p.Identity, in.Logins)
	if err != nil {
		return err
	}
	if proven != "" && proven != info.ID {
		return Errorf(ErrNotAuthorized, "Invalid login token. The %s token was issued for another identity.", CognitoIdentityProviderName)
	}
	for _, l := range verified {
		if !slices.Contains(info.Logins, l) {
			return errLoginsMismatch()
		}
	}
	for _, provider := range in.LoginsToRemove {
		for _, l := range info.Logins {
			if l.Provider != provider {
				continue
			}
			if err := ls.Unlink(ctx, p.ID(), info.ID, l, s.now()); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// describe turns an IdentityInfo into its wire shape.
func describe(info IdentityInfo) IdentityDescription {
	d := IdentityDescription{IdentityID: info.ID}
	for _, l := range info.Logins {
		if !slices.Contains(d.Logins, l.Provider) {
			d.Logins = append(d.Logins, l.Provider)
		}
	}
	if !info.Created.IsZero() {
		t := NewTime(info.Created)
		d.CreationDate = &t
	}
	m := info.Modified
	if m.IsZero() {
		m = info.Created
	}
	if !m.IsZero() {
		t := NewTime(m)
		d.LastModifiedDate = &t
	}
	return d
}

// DescribeIdentity returns an identity's logins and dates (developer
// credentials).
func (s *Service) DescribeIdentity(ctx context.Context, in DescribeIdentityInput) (IdentityDescription, error) {
	if err := s.developer(ctx, "DescribeIdentity"); err != nil {
		return IdentityDescription{}, err
	}
	if err := ValidateIdentityID(in.IdentityID); err != nil {
		return IdentityDescription{}, err
	}
	ls, err := s.logins()
	if err != nil {
		return IdentityDescription{}, err
	}
	info, err := ls.DescribeIdentity(ctx, in.IdentityID)
	if errors.Is(err, ErrNotFound) {
		return IdentityDescription{}, Errorf(ErrNotFound, "Identity '%s' not found.", in.IdentityID)
	}
	if err != nil {
		return IdentityDescription{}, err
	}
	return describe(info), nil
}

func validateQueryLimit(v *int32, required bool) (int, error) {
	if v == nil {
		if required {
			return 0, invalid("MaxResults", "is required and must be between 1 and 60")
		}
		return 60, nil
	}
	if *v < 1 || *v > 60 {
		return 0, invalid("MaxResults", "must be between 1 and 60")
	}
	return int(*v), nil
}

// ListIdentities lists a pool's identities by id (developer credentials).
func (s *Service) ListIdentities(ctx context.Context, in ListIdentitiesInput) (ListIdentitiesOutput, error) {
	if err := s.developer(ctx, "ListIdentities"); err != nil {
		return ListIdentitiesOutput{}, err
	}
	if err := ValidatePoolID(in.IdentityPoolID); err != nil {
		return ListIdentitiesOutput{}, err
	}
	limit, err := validateQueryLimit(in.MaxResults, true)
	if err != nil {
		return ListIdentitiesOutput{}, err
	}
	after, err := parseNameToken("NextToken", in.NextToken, ValidateIdentityID)
	if err != nil {
		return ListIdentitiesOutput{}, err
	}
	if _, err := s.pool(ctx, in.IdentityPoolID); err != nil {
		return ListIdentitiesOutput{}, err
	}
	ls, err := s.logins()
	if err != nil {
		return ListIdentitiesOutput{}, err
	}
	ids, err := ls.ListIdentities(ctx, in.IdentityPoolID, after, limit+1, in.HideDisabled)
	if err != nil {
		return ListIdentitiesOutput{}, fmt.Errorf("list identities: %w", err)
	}
	out := ListIdentitiesOutput{IdentityPoolID: in.IdentityPoolID, Identities: []IdentityDescription{}}
	if len(ids) > limit {
		ids = ids[:limit]
		out.NextToken = nameToken(ids[limit-1].ID)
	}
	for _, info := range ids {
		out.Identities = append(out.Identities, describe(info))
	}
	return out, nil
}

// LookupDeveloperIdentity finds an identity by developer user, or a
// identity's developer users (developer credentials).
func (s *Service) LookupDeveloperIdentity(ctx context.Context, in LookupDeveloperIdentityInput) (LookupDeveloperIdentityOutput, error) {
	if err := s.developer(ctx, "LookupDeveloperIdentity"); err != nil {
		return LookupDeveloperIdentityOutput{}, err
	}
	if err := ValidatePoolID(in.IdentityPoolID); err != nil {
		return LookupDeveloperIdentityOutput{}, err
	}
	if in.IdentityID == "" && in.DeveloperUserIdentifier == "" {
		return LookupDeveloperIdentityOutput{}, invalid("", "IdentityId or DeveloperUserIdentifier is required")
	}
	if in.IdentityID != "" {
		if err := ValidateIdentityID(in.IdentityID); err != nil {
			return LookupDeveloperIdentityOutput{}, err
		}
	}
	if in.DeveloperUserIdentifier != "" {
		if err := validateDeveloperUser("DeveloperUserIdentifier", in.DeveloperUserIdentifier); err != nil {
			return LookupDeveloperIdentityOutput{}, err
		}
	}
	limit, err := validateQueryLimit(in.MaxResults, false)
	if err != nil {
		return LookupDeveloperIdentityOutput{}, err
	}
	after, err := parseNameToken("NextToken", in.NextToken, func(v string) error { return validateDeveloperUser("NextToken", v) })
	if err != nil {
		return LookupDeveloperIdentityOutput{}, err
	}
	p, err := s.developerPool(ctx, in.IdentityPoolID, "")
	if err != nil {
		return LookupDeveloperIdentityOutput{}, err
	}
	ls, err := s.logins()
	if err != nil {
		return LookupDeveloperIdentityOutput{}, err
	}
	dev := p.Identity.DeveloperProviderName
	id := in.IdentityID
	if in.DeveloperUserIdentifier != "" {
		owner, err := ls.FindLogin(ctx, p.ID(), Login{Provider: dev, Subject: in.DeveloperUserIdentifier})
		if errors.Is(err, ErrNotFound) {
			return LookupDeveloperIdentityOutput{}, Errorf(ErrNotFound, "Developer user '%s' not found.", in.DeveloperUserIdentifier)
		}
		if err != nil {
			return LookupDeveloperIdentityOutput{}, err
		}
		if id != "" && id != owner {
			return LookupDeveloperIdentityOutput{}, Errorf(ErrConflict, "Developer user '%s' is not linked to identity '%s'.", in.DeveloperUserIdentifier, id)
		}
		id = owner
	} else {
		info, err := ls.DescribeIdentity(ctx, id)
		if errors.Is(err, ErrNotFound) || (err == nil && info.PoolID != p.ID()) {
			return LookupDeveloperIdentityOutput{}, Errorf(ErrNotFound, "Identity '%s' not found.", id)
		}
		if err != nil {
			return LookupDeveloperIdentityOutput{}, err
		}
	}
	users, err := ls.ListLogins(ctx, p.ID(), dev, id, after, limit+1)
	if err != nil {
		return LookupDeveloperIdentityOutput{}, fmt.Errorf("list developer users: %w", err)
	}
	out := LookupDeveloperIdentityOutput{IdentityID: id, DeveloperUserIdentifierList: []string{}}
	if len(users) > limit {
		users = users[:limit]
		out.NextToken = nameToken(users[limit-1].Subject)
	}
	for _, u := range users {
		out.DeveloperUserIdentifierList = append(out.DeveloperUserIdentifierList, u.Subject)
	}
	return out, nil
}

// DeleteIdentities deletes identities with their logins and credentials
// (developer credentials); unknown ids are ignored, as on AWS.
func (s *Service) DeleteIdentities(ctx context.Context, in DeleteIdentitiesInput) (DeleteIdentitiesOutput, error) {
	if err := s.developer(ctx, "DeleteIdentities"); err != nil {
		return DeleteIdentitiesOutput{}, err
	}
	if n := len(in.IdentityIDsToDelete); n < 1 || n > 60 {
		return DeleteIdentitiesOutput{}, invalid("IdentityIdsToDelete", "must hold 1 to 60 identity ids, got %d", n)
	}
	for _, id := range in.IdentityIDsToDelete {
		if err := ValidateIdentityID(id); err != nil {
			return DeleteIdentitiesOutput{}, err
		}
	}
	ls, err := s.logins()
	if err != nil {
		return DeleteIdentitiesOutput{}, err
	}
	out := DeleteIdentitiesOutput{UnprocessedIdentityIDs: []UnprocessedIdentityID{}}
	for _, id := range in.IdentityIDsToDelete {
		err := ls.DeleteIdentity(ctx, id)
		switch {
		case err == nil:
			s.noteMerged(id) // cached credentials stop at once here too
		case errors.Is(err, ErrNotFound):
		default:
			s.c.Log.Warn("delete identity", "identity", id, "err", err)
			out.UnprocessedIdentityIDs = append(out.UnprocessedIdentityIDs, UnprocessedIdentityID{IdentityID: id, ErrorCode: "InternalServerError"})
		}
	}
	return out, nil
}

// storedRoles is how SetIdentityPoolRoles' input is kept.
type storedRoles struct {
	Roles        map[string]string          `json:"Roles,omitempty"`
	RoleMappings map[string]json.RawMessage `json:"RoleMappings,omitempty"`
}

// GetIdentityPoolRoles returns what SetIdentityPoolRoles stored
// (developer credentials).
func (s *Service) GetIdentityPoolRoles(ctx context.Context, in IdentityPoolIDInput) (IdentityPoolRoles, error) {
	if err := s.developer(ctx, "GetIdentityPoolRoles"); err != nil {
		return IdentityPoolRoles{}, err
	}
	if err := ValidatePoolID(in.IdentityPoolID); err != nil {
		return IdentityPoolRoles{}, err
	}
	ls, err := s.logins()
	if err != nil {
		return IdentityPoolRoles{}, err
	}
	b, err := ls.PoolRoles(ctx, in.IdentityPoolID)
	if errors.Is(err, ErrNotFound) {
		return IdentityPoolRoles{}, Errorf(ErrNotFound, "IdentityPool '%s' not found.", in.IdentityPoolID)
	}
	if err != nil {
		return IdentityPoolRoles{}, err
	}
	out := IdentityPoolRoles{IdentityPoolID: in.IdentityPoolID}
	if b != nil {
		var r storedRoles
		if err := json.Unmarshal(b, &r); err != nil {
			return IdentityPoolRoles{}, fmt.Errorf("decode pool roles: %w", err)
		}
		out.Roles, out.RoleMappings = r.Roles, r.RoleMappings
	}
	return out, nil
}

// SetIdentityPoolRoles stores a pool's roles (developer credentials). They
// have no effect: the identity alone decides what its credentials reach.
func (s *Service) SetIdentityPoolRoles(ctx context.Context, in IdentityPoolRoles) error {
	if err := s.developer(ctx, "SetIdentityPoolRoles"); err != nil {
		return err
	}
	if err := ValidatePoolID(in.IdentityPoolID); err != nil {
		return err
	}
	if in.Roles == nil {
		return invalid("Roles", "is required")
	}
	if len(in.Roles) > 2 {
		return invalid("Roles", "at most 2 roles")
	}
	for k, v := range in.Roles {
		if k != "authenticated" && k != "unauthenticated" {
			return invalid("Roles", "keys must be authenticated or unauthenticated, got %q", k)
		}
		if err := validateRoleArn("Roles."+k, v); err != nil {
			return err
		}
	}
	if len(in.RoleMappings) > 10 {
		return invalid("RoleMappings", "at most 10 role mappings")
	}
	b, err := json.Marshal(storedRoles{Roles: in.Roles, RoleMappings: in.RoleMappings})
	if err != nil {
		return invalid("RoleMappings", "%v", err)
	}
	ls, err := s.logins()
	if err != nil {
		return err
	}
	err = ls.SetPoolRoles(ctx, in.IdentityPoolID, b)
	if errors.Is(err, ErrNotFound) {
		return Errorf(ErrNotFound, "IdentityPool '%s' not found.", in.IdentityPoolID)
	}
	return err
}
