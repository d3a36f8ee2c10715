package syncapi

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"strings"
)

// The Cognito Identity subset (spec G). Logins are verified by
// ServiceConfig.Tokens and kept by ServiceConfig.Logins (logins.go).

func (s *Service) developer(ctx context.Context, op string) error {
	_, err := s.authorize(ctx, op, developerOnly, "", "")
	return err
}

func validatePoolAttributes(p IdentityPool) error {
	if err := checkLen("IdentityPoolName", p.IdentityPoolName, 1, 128); err != nil {
		return err
	}
	if !rePoolName.MatchString(p.IdentityPoolName) {
		return invalid("IdentityPoolName", "%q may contain only letters, digits, spaces and +=,.@-", p.IdentityPoolName)
	}
	if p.DeveloperProviderName != "" {
		if err := checkLen("DeveloperProviderName", p.DeveloperProviderName, 1, 128); err != nil {
			return err
		}
		if !reDevProvider.MatchString(p.DeveloperProviderName) {
			return invalid("DeveloperProviderName", "%q may contain only letters, digits and ._-", p.DeveloperProviderName)
		}
	}
	if len(p.SupportedLoginProviders) > 10 {
		return invalid("SupportedLoginProviders", "at most 10 providers")
	}
	return nil
}

// CreateIdentityPool creates a pool. The tag syncd:IdentityPoolId chooses its
// id (an operator migrating from AWS keeps the id apps embed); otherwise the
// id is "<region>:<uuid>".
func (s *Service) CreateIdentityPool(ctx context.Context, in IdentityPool) (IdentityPool, error) {
	if err := s.developer(ctx, "CreateIdentityPool"); err != nil {
		return IdentityPool{}, err
	}
	if err := validatePoolAttributes(in); err != nil {
		return IdentityPool{}, err
	}
	p := in
	p.IdentityPoolTags = maps.Clone(in.IdentityPoolTags)
	p.IdentityPoolID = s.c.Region + ":" + NewUUID()
	if id, ok := p.IdentityPoolTags[PoolIDTag]; ok {
		if err := ValidatePoolID(id); err != nil {
			return IdentityPool{}, invalid("IdentityPoolTags."+PoolIDTag, "%v", err)
		}
		p.IdentityPoolID = id
		delete(p.IdentityPoolTags, PoolIDTag)
	}
	if len(p.IdentityPoolTags) == 0 {
		p.IdentityPoolTags = nil
	}
	err := s.c.Store.CreatePool(ctx, Pool{Identity: p, Created: s.now(), Generation: newGeneration()})
	if errors.Is(err, ErrConflict) {
		return IdentityPool{}, Errorf(ErrConflict, "IdentityPool '%s' already exists.", p.IdentityPoolID)
	}
	if err != nil {
		return IdentityPool{}, fmt.Errorf("create pool %s: %w", p.IdentityPoolID, err)
	}
	return p, nil
}

// DescribeIdentityPool returns a pool's attributes.
func (s *Service) DescribeIdentityPool(ctx context.Context, in IdentityPoolIDInput) (IdentityPool, error) {
	if err := s.developer(ctx, "DescribeIdentityPool"); err != nil {
		return IdentityPool{}, err
	}
	if err := ValidatePoolID(in.IdentityPoolID); err != nil {
		return IdentityPool{}, err
	}
	p, err := s.pool(ctx, in.IdentityPoolID)
	return p.Identity, err
}

// ListIdentityPools lists pools; MaxResults (1–60) is required, as in AWS.
func (s *Service) ListIdentityPools(ctx context.Context, in ListIdentityPoolsInput) (ListIdentityPoolsOutput, error) {
	if err := s.developer(ctx, "ListIdentityPools"); err != nil {
		return ListIdentityPoolsOutput{}, err
	}
	if in.MaxResults == nil || *in.MaxResults < 1 || *in.MaxResults > 60 {
		return ListIdentityPoolsOutput{}, invalid("MaxResults", "is required and must be between 1 and 60")
	}
	after, err := parseNameToken("NextToken", in.NextToken, ValidatePoolID)
	if err != nil {
		return ListIdentityPoolsOutput{}, err
	}
	limit := int(*in.MaxResults)
	pools, err := s.c.Store.ListPools(ctx, after, limit+1)
	if err != nil {
		return ListIdentityPoolsOutput{}, fmt.Errorf("list pools: %w", err)
	}
	out := ListIdentityPoolsOutput{IdentityPools: []IdentityPoolShort{}}
	if len(pools) > limit {
		pools = pools[:limit]
		out.NextToken = nameToken(pools[limit-1].ID())
	}
	for _, p := range pools {
		out.IdentityPools = append(out.IdentityPools, IdentityPoolShort{IdentityPoolID: p.ID(), IdentityPoolName: p.Identity.IdentityPoolName})
	}
	return out, nil
}

// UpdateIdentityPool replaces a pool's Cognito Identity attributes.
func (s *Service) UpdateIdentityPool(ctx context.Context, in IdentityPool) (IdentityPool, error) {
	if err := s.developer(ctx, "UpdateIdentityPool"); err != nil {
		return IdentityPool{}, err
	}
	if err := ValidatePoolID(in.IdentityPoolID); err != nil {
		return IdentityPool{}, err
	}
	if err := validatePoolAttributes(in); err != nil {
		return IdentityPool{}, err
	}
	p, err := s.c.Store.UpdatePool(ctx, in.IdentityPoolID, func(p *Pool) error {
		p.Identity = in
		delete(p.Identity.IdentityPoolTags, PoolIDTag)
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return IdentityPool{}, Errorf(ErrNotFound, "IdentityPool '%s' not found.", in.IdentityPoolID)
	}
	return p.Identity, err
}

// DeleteIdentityPool deletes a pool with all its identities and data.
func (s *Service) DeleteIdentityPool(ctx context.Context, in IdentityPoolIDInput) error {
	if err := s.developer(ctx, "DeleteIdentityPool"); err != nil {
		return err
	}
	if err := ValidatePoolID(in.IdentityPoolID); err != nil {
		return err
	}
	err := s.c.Store.DeletePool(ctx, in.IdentityPoolID)
	s.events.Remove(in.IdentityPoolID)
	if errors.Is(err, ErrNotFound) {
		return Errorf(ErrNotFound, "IdentityPool '%s' not found.", in.IdentityPoolID)
	}
	return err
}

// errRateExceeded is AWS's TooManyRequestsException text for the Cognito
// Identity quotas (spec B.2).
var errRateExceeded = Errorf(ErrTooManyRequests, "Rate exceeded")

// GetID creates a new unauthenticated identity, or with Logins returns the
// identity of the logins, created when new (unsigned call, spec G.3).
func (s *Service) GetID(ctx context.Context, in GetIDInput) (GetIDOutput, error) {
	if err := ValidatePoolID(in.IdentityPoolID); err != nil {
		return GetIDOutput{}, err
	}
	p, err := s.pool(ctx, in.IdentityPoolID)
	if err != nil {
		return GetIDOutput{}, err
	}
	if s.c.GetIDLimit != nil && !s.c.GetIDLimit.Allow(p.ID()) {
		return GetIDOutput{}, errRateExceeded
	}
	if len(in.Logins) > 0 {
		return s.getIDWithLogins(ctx, p, in)
	}
	if !p.Identity.AllowUnauthenticatedIdentities {
		return GetIDOutput{}, Errorf(ErrNotAuthorized, "Unauthenticated access is not supported for this identity pool.")
	}
	region, _, _ := strings.Cut(p.ID(), ":")
	id := Identity{PoolID: p.ID(), ID: region + ":" + NewUUID(), Created: s.now()}
	if err := s.c.Store.CreateIdentity(ctx, id); err != nil {
		return GetIDOutput{}, fmt.Errorf("create identity: %w", err)
	}
	return GetIDOutput{IdentityID: id.ID}, nil
}

// GetCredentialsForIdentity issues temporary credentials bound to the
// identity, or to the identity a presented login merged it into (unsigned
// call, spec G.3, G.5).
func (s *Service) GetCredentialsForIdentity(ctx context.Context, in GetCredentialsForIdentityInput) (GetCredentialsForIdentityOutput, error) {
	if err := ValidateIdentityID(in.IdentityID); err != nil {
		return GetCredentialsForIdentityOutput{}, err
	}
	if in.CustomRoleArn != "" {
		if err := validateRoleArn("CustomRoleArn", in.CustomRoleArn); err != nil {
			return GetCredentialsForIdentityOutput{}, err
		}
	}
	info, p, err := s.loginIdentity(ctx, in.IdentityID, in.Logins)
	if err != nil {
		return GetCredentialsForIdentityOutput{}, err
	}
	id := info.Identity
	if s.c.GetCredentialsLimit != nil && !s.c.GetCredentialsLimit.Allow(p.ID()) {
		return GetCredentialsForIdentityOutput{}, errRateExceeded
	}
	now := s.now()
	c := Credential{
		AccessKeyID:  "ASIA" + randomBase32(16),
		Secret:       randomBase64(30),
		SessionToken: randomBase64(96),
		Expires:      now.Add(s.c.CredentialTTL).Truncate(1e9),
		Caller:       Caller{PoolID: id.PoolID, IdentityID: id.ID, PoolGeneration: p.Generation},
	}
	c.Caller.AccessKeyID = c.AccessKeyID
	// The store checks again, in its transaction, that the identity and
	// this generation of the pool still exist.
	err = s.c.Store.PutCredential(ctx, c)
	if errors.Is(err, ErrNotFound) {
		return GetCredentialsForIdentityOutput{}, Errorf(ErrNotFound, "Identity '%s' not found.", in.IdentityID)
	}
	if err != nil {
		return GetCredentialsForIdentityOutput{}, fmt.Errorf("store credential: %w", err)
	}
	return GetCredentialsForIdentityOutput{
		IdentityID: id.ID,
		Credentials: IdentityCredentials{
			AccessKeyID: c.AccessKeyID, SecretKey: c.Secret, SessionToken: c.SessionToken, Expiration: NewTime(c.Expires),
		},
	}, nil
}

func randomBase32(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base32.StdEncoding.EncodeToString(b)[:n]
}

func randomBase64(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
