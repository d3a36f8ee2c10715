package syncapi

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Constraints of the AWS model (spec B.1). Patterns are anchored.
var (
	reGUID        = regexp.MustCompile(`^[\w-]+:[0-9a-f-]+$`)
	reDatasetName = regexp.MustCompile(`^[a-zA-Z0-9_.:-]+$`)
	reAppArn      = regexp.MustCompile(`^arn:aws:sns:[-0-9a-z]+:\d+:app/[A-Z_]+/[a-zA-Z0-9_.-]+$`)
	reRoleArn     = regexp.MustCompile(`^arn:aws:iam::\d+:role/.*$`)
	rePoolName    = regexp.MustCompile(`^[\w\s+=,.@-]+$`)
	reDevProvider = regexp.MustCompile(`^[\w._-]+$`)
)

// Platforms accepted by RegisterDevice.
var platforms = map[string]bool{"APNS": true, "APNS_SANDBOX": true, "GCM": true, "ADM": true}

// MaxValueLen is the longest record value the model allows.
const MaxValueLen = 1048575

// MaxKeyBytes bounds a record key in UTF-8 bytes, beside the model's 1024
// characters: a key is part of PostgreSQL B-tree index entries (the store's
// and the PostgreSQL sink's), which cannot exceed about 2.7 kB. The client
// libraries never send keys over 128 bytes (spec B.2).
const MaxKeyBytes = 2048

// ValidateText checks a string a store keeps: it must be valid UTF-8 and
// must not contain NUL. PostgreSQL text can hold neither, SQLite both; so
// that every store gives the same answer, syncd refuses them, with
// InvalidParameterException, before anything is written.
func ValidateText(field, v string) error {
	if !utf8.ValidString(v) {
		return invalid(field, "must be valid UTF-8")
	}
	if strings.IndexByte(v, 0) >= 0 {
		return invalid(field, "must not contain the NUL character (U+0000)")
	}
	return nil
}

// ValidateKey checks a record key: 1 to 1024 characters, at most
// MaxKeyBytes bytes, ValidateText.
func ValidateKey(field, key string) error {
	if err := ValidateText(field, key); err != nil {
		return err
	}
	if err := checkLen(field, key, 1, 1024); err != nil {
		return err
	}
	if len(key) > MaxKeyBytes {
		return invalid(field, "must be at most %d bytes in UTF-8, got %d", MaxKeyBytes, len(key))
	}
	return nil
}

// ValidateValue checks a record value: at most MaxValueLen characters,
// ValidateText.
func ValidateValue(field, v string) error {
	if err := ValidateText(field, v); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(v); n > MaxValueLen {
		return invalid(field, "length must be at most %d, got %d", MaxValueLen, n)
	}
	return nil
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// checkLen checks a string's length in characters against [min, max].
func checkLen(field, v string, min, max int) error {
	n := utf8.RuneCountInString(v)
	if n < min || (max > 0 && n > max) {
		if max > 0 {
			return invalid(field, "length must be between %d and %d, got %d", min, max, n)
		}
		return invalid(field, "length must be at least %d", min)
	}
	return nil
}

func checkGUID(field, v string) error {
	if err := checkLen(field, v, 1, 55); err != nil {
		return err
	}
	if !reGUID.MatchString(v) {
		return invalid(field, "%q does not match the pattern [\\w-]+:[0-9a-f-]+", v)
	}
	return nil
}

// ValidatePoolID checks an IdentityPoolId.
func ValidatePoolID(v string) error { return checkGUID("IdentityPoolId", v) }

// ValidateIdentityID checks an IdentityId.
func ValidateIdentityID(v string) error { return checkGUID("IdentityId", v) }

// ValidateDatasetName checks a DatasetName.
func ValidateDatasetName(v string) error {
	if err := checkLen("DatasetName", v, 1, 128); err != nil {
		return err
	}
	if !reDatasetName.MatchString(v) {
		return invalid("DatasetName", "%q may contain only a-z, A-Z, 0-9, '_', '-', '.' and ':'", v)
	}
	return nil
}

func validateIdentityPath(pool, identity string) error {
	if err := ValidatePoolID(pool); err != nil {
		return err
	}
	return ValidateIdentityID(identity)
}

func validateDatasetPath(pool, identity, name string) error {
	if err := validateIdentityPath(pool, identity); err != nil {
		return err
	}
	return ValidateDatasetName(name)
}

// validatePatches checks UpdateRecords' patches (spec C.5 step 1).
func validatePatches(patches []RecordPatch) error {
	seen := make(map[string]struct{}, len(patches))
	for i, p := range patches {
		field := fmt.Sprintf("RecordPatches[%d]", i)
		if p.Op != OpReplace && p.Op != OpRemove {
			return invalid(field+".Op", "must be replace or remove, got %q", p.Op)
		}
		if err := ValidateKey(field+".Key", p.Key); err != nil {
			return err
		}
		if p.SyncCount < 0 {
			return invalid(field+".SyncCount", "must not be negative")
		}
		if p.Op == OpReplace {
			if p.Value == nil {
				return invalid(field+".Value", "is required for Op replace")
			}
			if err := ValidateValue(field+".Value", *p.Value); err != nil {
				return err
			}
		}
		if _, dup := seen[p.Key]; dup {
			return invalid(field+".Key", "duplicate key %q in one request", p.Key)
		}
		seen[p.Key] = struct{}{}
	}
	return nil
}

func validateMaxResults(v *int32) error {
	if v != nil && *v < 1 {
		return invalid("maxResults", "must be at least 1")
	}
	return nil
}

func validatePushSync(p *PushSync) error {
	for i, a := range p.ApplicationArns {
		if !reAppArn.MatchString(a) {
			return invalid(fmt.Sprintf("PushSync.ApplicationArns[%d]", i), "%q is not an SNS platform application ARN", a)
		}
	}
	if p.RoleArn != "" {
		if err := validateRoleArn("PushSync.RoleArn", p.RoleArn); err != nil {
			return err
		}
	}
	return nil
}

func validateRoleArn(field, v string) error {
	if err := checkLen(field, v, 20, 2048); err != nil {
		return err
	}
	if !reRoleArn.MatchString(v) {
		return invalid(field, "%q is not an IAM role ARN", v)
	}
	return nil
}

func validateStreams(c *CognitoStreams) error {
	if c.StreamName != "" {
		if err := checkLen("CognitoStreams.StreamName", c.StreamName, 1, 128); err != nil {
			return err
		}
	}
	if c.RoleArn != "" {
		if err := validateRoleArn("CognitoStreams.RoleArn", c.RoleArn); err != nil {
			return err
		}
	}
	switch c.StreamingStatus {
	case "", StreamingEnabled, StreamingDisabled:
	default:
		return invalid("CognitoStreams.StreamingStatus", "must be ENABLED or DISABLED, got %q", c.StreamingStatus)
	}
	return nil
}
