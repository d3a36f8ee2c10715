package idtoken

import (
	"encoding/json"
	"net/http"
)

// Paths Handler serves.
const (
	JWKSPath      = "/.well-known/jwks.json"
	DiscoveryPath = "/.well-known/openid-configuration"
)

// Handler serves syncd's public signing keys at JWKSPath and an OpenID
// discovery document at DiscoveryPath, so that anyone can verify the
// tokens syncd issues (issuer = PublicURL).
func (t *Tokens) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+JWKSPath, func(w http.ResponseWriter, r *http.Request) {
		keys, err := t.signer.current(r.Context(), false)
		if err != nil {
			t.c.Log.Error("read signing keys", "err", err)
			http.Error(w, "signing keys unavailable", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, publicKeys(keys))
	})
	mux.HandleFunc("GET "+DiscoveryPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                t.c.PublicURL,
			"jwks_uri":                              t.c.PublicURL + JWKSPath,
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"claims_supported":                      []string{"aud", "amr", "exp", "iat", "iss", "nbf", "sub"},
		})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_ = json.NewEncoder(w).Encode(v)
}
