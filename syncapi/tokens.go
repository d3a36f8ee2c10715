package syncapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

var b64 = base64.RawURLEncoding

// sessionClaims is what a SyncSessionToken carries (spec C.3: a session id,
// the identity id and an expiry), bound to one dataset.
type sessionClaims struct {
	Pool     string `json:"p"`
	Identity string `json:"i"`
	Dataset  string `json:"d"`
	Session  string `json:"s"`
	Expires  int64  `json:"e"`
}

// signToken returns base64url(json(v)) "." base64url(hmac-sha256).
func signToken(key []byte, v any) string {
	body, _ := json.Marshal(v) // plain structs: cannot fail
	enc := b64.EncodeToString(body)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(enc))
	return enc + "." + b64.EncodeToString(mac.Sum(nil))
}

// openToken verifies a token made by signToken and decodes it into v.
func openToken(key []byte, tok string, v any) bool {
	enc, sig, ok := strings.Cut(tok, ".")
	if !ok || len(tok) > 4096 {
		return false
	}
	got, err := b64.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(enc))
	if !hmac.Equal(got, mac.Sum(nil)) {
		return false
	}
	body, err := b64.DecodeString(enc)
	if err != nil {
		return false
	}
	return json.Unmarshal(body, v) == nil
}

// recordsCursor is ListRecords' nextToken: the snapshot of the first page and
// the position after the last record returned (spec C.7), bound to the
// dataset it was minted for (a token of another dataset, identity or pool is
// refused).
type recordsCursor struct {
	Pool      string `json:"p"`
	Identity  string `json:"i"`
	Dataset   string `json:"d"`
	Snapshot  int64  `json:"S"`
	After     int64  `json:"A"`
	SyncCount int64  `json:"C"`
	Key       string `json:"K"`
	Exists    bool   `json:"E"`
	Deleted   bool   `json:"D"`
}

// nameToken encodes a list position as base64 of the last name returned, as
// AWS's ListIdentityPoolUsage example does.
func nameToken(name string) string { return base64.StdEncoding.EncodeToString([]byte(name)) }

// parseNameToken decodes a nameToken. The name must pass valid (the rule of
// the names the list returns): a token is client input, and what it decodes
// to goes into a query.
func parseNameToken(field, tok string, valid func(string) error) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil || len(b) == 0 || valid(string(b)) != nil {
		return "", invalid(field, "invalid pagination token")
	}
	return string(b), nil
}

// randomHex returns n random bytes, hex encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// NewUUID returns a random (version 4) UUID in lowercase.
func NewUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func expired(expires int64, now time.Time) bool { return now.Unix() >= expires }
