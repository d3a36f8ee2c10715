package glob_test

import (
	"math/rand/v2"
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cognitosync/cognitosync/internal/glob"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything:at/all", true},
		{"settings", "settings", true},
		{"settings", "settings2", false},
		{"us-east-1:*", "us-east-1:0c1ba052-e098-41fa-a76e-eaa2c125f861", true},
		{"us-east-1:*", "eu-west-1:0c1ba052", false},
		{"*:0c1b*", "us-east-1:0c1ba052", true},
		{"game.*.score", "game.level1.score", true},
		{"game.*.score", "game.level1.scores", false},
		{"admin*", "admin/level", true}, // '*' crosses '/', unlike path.Match
		{"a?c", "a/c", true},
		{"a?c", "abc", true},
		{"a?c", "äöc", false},
		{"a?c", "aöc", true}, // '?' is one character, not one byte
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{`\*`, "*", true},
		{`\*`, "x", false},
		{`a\?`, "a?", true},
		{`a\?`, "ab", false},
		{`\ö`, "ö", true},
		{`\[x]`, "[x]", true},
		{"[a-c]?", "b1", true},
		{"[a-c]?", "d1", false},
		{"[^a-c]?", "d1", true},
		{"[^a-c]?", "a1", false},
		{"score_[0-9]", "score_7", true},
		{"score_[0-9]", "score_x", false},
		{`[\]\-]`, "]", true},
		{`[\]\-]`, "-", true},
		{"[äö]", "ö", true},
		{"*[0-9]", "level10", true},
		{"**", "x", true},
		{"", "", false}, // the empty pattern is invalid and matches nothing
		{"[", "[", false},
		{`a\`, `a\`, false},
		{"[]]", "]", false},
	} {
		if got := glob.Match(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, p := range []string{"*", "a?c", `\*`, `\\`, "[a-z]", "[^a]", `[\]]`, "[ä-ü]", "us-east-1:*"} {
		if err := glob.Validate(p); err != nil {
			t.Errorf("Validate(%q) = %v", p, err)
		}
	}
	for p, want := range map[string]string{
		"":      "empty",
		`a\`:    "trailing",
		"[a":    "unclosed",
		"[]":    "must be escaped",
		"[a-]":  "must be escaped",
		"[z-a]": "reversed",
		"[":     "unclosed",
		`[\`:    "unclosed",
	} {
		if err := glob.Validate(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(%q) = %v, want %q", p, err, want)
		}
	}
}

// pathAgrees reports whether Match must agree with path.Match on pattern
// and s: both accept the pattern (path.Match also takes a reversed range
// such as [z-a], which matches nothing; Validate rejects it) and '/', which
// only path.Match treats specially, occurs in neither. This is where the SyncTrigger rules'
// old dialect (path.Match) and this one agree, so existing rules keep their
// meaning there.
//
// One more exception is a path.Match bug, not a difference of dialect: its
// '*' may stop inside a multi-byte character, so path.Match("*[^ä]", "ä")
// is true. Strings with such characters are compared only without '*'.
func pathAgrees(pattern, s string) bool {
	if strings.Contains(pattern, "/") || strings.Contains(s, "/") || pattern == "" || !utf8.ValidString(s) {
		return false
	}
	if strings.Contains(pattern, "*") && utf8.RuneCountInString(s) != len(s) {
		return false
	}
	_, err := path.Match(pattern, "")
	return err == nil && glob.Validate(pattern) == nil
}

// routeAgrees reports whether Match must agree with the routes' old
// matcher: patterns without '[' (brackets were literal there).
func routeAgrees(pattern, s string) bool {
	return pattern != "" && !strings.Contains(pattern, "[") && utf8.ValidString(s) && glob.Validate(pattern) == nil
}

// oldRouteGlob is the routes' matcher before the dialects were unified
// (pipeline.Glob), kept to prove configs keep their meaning.
func oldRouteGlob(pattern, s string) bool {
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			switch pattern[p] {
			case '*':
				starP, starI = p, i
				p++
				continue
			case '?':
				_, n := utf8.DecodeRuneInString(s[i:])
				p++
				i += n
				continue
			case '\\':
				if p+1 < len(pattern) && pattern[p+1] == s[i] {
					p += 2
					i++
					continue
				}
			default:
				if pattern[p] == s[i] {
					p++
					i++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starI:])
		starI += n
		p, i = starP+1, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// check compares Match with both old dialects where they must agree, and
// Validate with the matcher: a pattern Validate rejects matches nothing.
func check(t *testing.T, pattern, s string) {
	got := glob.Match(pattern, s)
	if pathAgrees(pattern, s) {
		if want, _ := path.Match(pattern, s); got != want {
			t.Errorf("Match(%q, %q) = %v, path.Match = %v", pattern, s, got, want)
		}
	}
	if routeAgrees(pattern, s) {
		if want := oldRouteGlob(pattern, s); got != want {
			t.Errorf("Match(%q, %q) = %v, old route glob = %v", pattern, s, got, want)
		}
	}
	verr := glob.Validate(pattern)
	if got && verr != nil {
		t.Errorf("Match(%q, %q) = true for a pattern Validate rejects", pattern, s)
	}
	// Validate accepts what path.Match accepts, except reversed ranges and
	// invalid UTF-8.
	if _, perr := path.Match(pattern, ""); pattern != "" && (perr == nil) != (verr == nil) &&
		(verr == nil || !strings.Contains(verr.Error(), "reversed") && !strings.Contains(verr.Error(), "UTF-8")) {
		t.Errorf("Validate(%q) = %v, path.Match's check: %v", pattern, verr, perr)
	}
}

// TestMatch_AgreesWithOldDialects runs check on many random patterns and
// strings over a small alphabet that exercises every operator.
func TestMatch_AgreesWithOldDialects(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const patAlphabet, sAlphabet = `ab*?[]^-\ä`, "ab-]^ä*?["
	pick := func(alphabet string, n int) string {
		runes := []rune(alphabet)
		var b strings.Builder
		for range n {
			b.WriteRune(runes[r.IntN(len(runes))])
		}
		return b.String()
	}
	for range 200000 {
		check(t, pick(patAlphabet, 1+r.IntN(7)), pick(sAlphabet, r.IntN(7)))
		if t.Failed() {
			return
		}
	}
}

func FuzzMatch(f *testing.F) {
	for _, seed := range [][2]string{{"*", "x"}, {"[a-c]?", "b1"}, {`\*a*`, "*abc"}, {"[^ä]*", "öa"}, {"us-east-1:*", "us-east-1:x"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(check)
}
