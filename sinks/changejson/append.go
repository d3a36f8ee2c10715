package changejson

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// AppendJSON appends j as encoding/json encodes it (the same bytes, so a
// reader cannot tell), without reflection: the jsonl sink writes one per
// change. escapeHTML chooses between json.Marshal's escaping of <, > and &
// and a json.Encoder's with SetEscapeHTML(false). It returns ok false, and
// dst unchanged, for what only encoding/json handles (a time outside years
// 0 to 9999, which it refuses).
func (j Change) AppendJSON(dst []byte, escapeHTML bool) ([]byte, bool) {
	n := len(dst)
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, j.ID, escapeHTML)
	dst = append(dst, `,"identityPoolId":`...)
	dst = appendString(dst, j.IdentityPoolID, escapeHTML)
	dst = append(dst, `,"identityId":`...)
	dst = appendString(dst, j.IdentityID, escapeHTML)
	dst = append(dst, `,"datasetName":`...)
	dst = appendString(dst, j.DatasetName, escapeHTML)
	dst = append(dst, `,"key":`...)
	dst = appendString(dst, j.Key, escapeHTML)
	dst = append(dst, `,"value":`...)
	if j.Value == nil {
		dst = append(dst, "null"...)
	} else {
		dst = appendString(dst, *j.Value, escapeHTML)
	}
	dst = append(dst, `,"op":`...)
	dst = appendString(dst, j.Op, escapeHTML)
	dst = append(dst, `,"syncCount":`...)
	dst = strconv.AppendInt(dst, j.SyncCount, 10)
	for _, t := range []struct {
		name string
		t    *time.Time
	}{{`,"lastModified":`, j.LastModified}, {`,"deviceLastModified":`, j.DeviceLastModified}} {
		if t.t == nil {
			continue
		}
		if y := t.t.Year(); y < 0 || y > 9999 {
			return dst[:n], false
		}
		dst = append(dst, t.name...)
		dst = append(dst, '"')
		dst = t.t.AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"datasetSyncCount":`...)
	dst = strconv.AppendInt(dst, j.DatasetSyncCount, 10)
	if j.DatasetDeleted {
		dst = append(dst, `,"datasetDeleted":true`...)
	}
	return append(dst, '}'), true
}

// appendString appends s as a JSON string the way encoding/json does: a
// string of printable ASCII that needs no escape is copied, anything else
// goes through encoding/json.
func appendString(dst []byte, s string, escapeHTML bool) []byte {
	plain := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || escapeHTML && (c == '<' || c == '>' || c == '&') {
			plain = false
			break
		}
	}
	if plain {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	if escapeHTML {
		b, _ := json.Marshal(s) // a string always encodes
		return append(dst, b...)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})...)
}
