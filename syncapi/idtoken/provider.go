package idtoken

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Provider is an OpenID Connect issuer the operator trusts, with the
// audiences (client ids) its tokens may carry; what AWS keeps in an IAM
// OIDC identity provider. A pool accepts its tokens when its
// OpenIdConnectProviderARNs lists
// arn:aws:iam::<account>:oidc-provider/<issuer without scheme>, under that
// Logins key.
type Provider struct {
	Issuer    string
	Audiences []string
}

// ParseProvider parses the --oidc-provider syntax
// "issuer=URL,audience=A[,audience=B…]".
func ParseProvider(s string) (Provider, error) {
	var p Provider
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return p, fmt.Errorf("oidc provider %q: %q is not key=value (want issuer=URL,audience=CLIENT_ID[,audience=…])", s, part)
		}
		switch strings.TrimSpace(k) {
		case "issuer":
			if p.Issuer != "" {
				return p, fmt.Errorf("oidc provider %q: issuer given twice", s)
			}
			p.Issuer = strings.TrimSpace(v)
		case "audience", "client_id", "client-id":
			if v = strings.TrimSpace(v); v != "" {
				p.Audiences = append(p.Audiences, v)
			}
		default:
			return p, fmt.Errorf("oidc provider %q: unknown key %q (known: issuer, audience)", s, k)
		}
	}
	return p, p.Validate()
}

// Validate checks the issuer URL: https, or http on a loopback host (for
// tests); no query or fragment; at least one audience.
func (p Provider) Validate() error {
	var errs []error
	if err := checkIssuer(p.Issuer); err != nil {
		errs = append(errs, err)
	}
	if len(p.Audiences) == 0 {
		errs = append(errs, fmt.Errorf("oidc provider %s: at least one audience=CLIENT_ID is required", p.Issuer))
	}
	return errors.Join(errs...)
}

func checkIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("oidc issuer %q: want an absolute URL like https://login.example.com", issuer)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return fmt.Errorf("oidc issuer %q: http:// is allowed only on loopback hosts (tests); use https://", issuer)
		}
	default:
		return fmt.Errorf("oidc issuer %q: scheme must be https", issuer)
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// LoginKey is the Logins key of tokens of the issuer: the issuer without
// its scheme (and without a trailing slash), as on AWS.
func LoginKey(issuer string) string {
	_, rest, ok := strings.Cut(issuer, "://")
	if !ok {
		rest = issuer
	}
	return strings.TrimSuffix(rest, "/")
}
