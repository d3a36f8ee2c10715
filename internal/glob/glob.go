// Package glob is the one pattern dialect of the user's configuration: the
// worker's routes (pools, identities, datasets, keys) and the SyncTrigger
// rules (datasets, keys) both match with it.
//
// A pattern matches a whole string:
//
//   - any run of characters, including none; also '/', ':' and '.'
//     ?        exactly one character (one UTF-8 code point, not one byte)
//     [abc]    one of the listed characters; ranges such as [a-z0-9]
//     [^abc]   one character not listed
//     \c       the character c itself (\*, \?, \[, \\)
//
// Everything else matches itself. Inside brackets '\' escapes too, and ']'
// or '-' must be escaped. The empty pattern and malformed ones (an unclosed
// '[', a trailing '\', an empty or reversed range, invalid UTF-8) are
// rejected by Validate and match nothing.
//
// This is path.Match's syntax without its special '/': Cognito record keys
// may hold '/', and "us-east-1:*" must cover every pool of a region.
package glob

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Match reports whether s matches pattern. A malformed pattern matches
// nothing. Matching takes no allocations and, with one backtrack point
// (the last '*'), time linear in practice.
func Match(pattern, s string) bool {
	if pattern == "" || !utf8.ValidString(pattern) {
		return false
	}
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
			case '[':
				r, n := utf8.DecodeRuneInString(s[i:])
				ok, w, err := class(pattern[p:], r)
				if err != nil {
					return false
				}
				if ok {
					p += w
					i += n
					continue
				}
			case '\\':
				if p+1 == len(pattern) {
					return false
				}
				_, w := utf8.DecodeRuneInString(pattern[p+1:])
				if len(s)-i >= w && pattern[p+1:p+1+w] == s[i:i+w] {
					p += 1 + w
					i += w
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
		// Let the last '*' take one more character and try again.
		_, n := utf8.DecodeRuneInString(s[starI:])
		starI += n
		p, i = starP+1, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// ErrBadPattern is wrapped by Validate's errors.
var ErrBadPattern = errors.New("bad pattern")

// Validate reports an empty or malformed pattern.
func Validate(pattern string) error {
	if pattern == "" {
		return errors.New("empty pattern (omit the list to match everything)")
	}
	if !utf8.ValidString(pattern) {
		return fmt.Errorf("%w: not valid UTF-8", ErrBadPattern)
	}
	for p := 0; p < len(pattern); {
		switch pattern[p] {
		case '\\':
			if p+1 == len(pattern) {
				return fmt.Errorf(`%w: trailing '\' (write \\ for a backslash)`, ErrBadPattern)
			}
			_, w := utf8.DecodeRuneInString(pattern[p+1:])
			p += 1 + w
		case '[':
			_, w, err := class(pattern[p:], 0)
			if err != nil {
				return err
			}
			p += w
		default:
			p++
		}
	}
	return nil
}

// class matches r against the bracket expression at the start of pat and
// returns its width in bytes. It parses the whole expression, so a
// malformed one is an error whatever r is.
func class(pat string, r rune) (matched bool, width int, err error) {
	i := 1 // past '['
	negate := i < len(pat) && pat[i] == '^'
	if negate {
		i++
	}
	for n := 0; ; n++ {
		if i >= len(pat) {
			return false, 0, fmt.Errorf("%w: unclosed '['", ErrBadPattern)
		}
		if pat[i] == ']' && n > 0 {
			return matched != negate, i + 1, nil
		}
		lo, w, err := classChar(pat[i:])
		if err != nil {
			return false, 0, err
		}
		i += w
		hi := lo
		if i < len(pat) && pat[i] == '-' {
			if hi, w, err = classChar(pat[i+1:]); err != nil {
				return false, 0, err
			}
			if hi < lo {
				return false, 0, fmt.Errorf("%w: range %c-%c is reversed", ErrBadPattern, lo, hi)
			}
			i += 1 + w
		}
		if lo <= r && r <= hi {
			matched = true
		}
	}
}

// classChar reads one character of a bracket expression: a literal, or an
// escaped one. ']' and '-' must be escaped there, as in path.Match.
func classChar(pat string) (rune, int, error) {
	if pat == "" {
		return 0, 0, fmt.Errorf("%w: unclosed '['", ErrBadPattern)
	}
	switch pat[0] {
	case ']', '-':
		return 0, 0, fmt.Errorf("%w: '%c' inside [] must be escaped", ErrBadPattern, pat[0])
	case '\\':
		if len(pat) < 2 {
			return 0, 0, fmt.Errorf("%w: unclosed '['", ErrBadPattern)
		}
		r, w := utf8.DecodeRuneInString(pat[1:])
		return r, 1 + w, nil
	}
	r, w := utf8.DecodeRuneInString(pat)
	return r, w, nil
}
