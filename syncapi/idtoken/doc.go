// Package idtoken issues syncd's OpenID tokens and verifies the login
// tokens clients present in Logins (spec G.6), implementing
// syncapi.LoginTokens with maintained libraries: go-jose signs and checks
// signatures, coreos/go-oidc runs discovery and the claim checks.
//
// syncd's own tokens are RS256 JWTs signed with keys kept in the store
// (syncapi.LoginStore), created on first start and rotatable, so every
// replica signs and verifies alike; Handler serves their public half at
// /.well-known/jwks.json with a discovery document. Third-party tokens are
// checked against the issuer a pool trusts: an OpenID Connect provider the
// operator configured (Provider), a Cognito user pool, Google or Apple.
// Discovery documents and key sets are fetched on first use, cached, and
// fetched again when a token names an unknown key, at most once per
// Config.MinRefetch per issuer, so forged tokens cannot make syncd hammer an
// issuer.
package idtoken
