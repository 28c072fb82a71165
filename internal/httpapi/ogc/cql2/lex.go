package cql2

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tQuotedIdent
	tString
	tNumber
	tLParen
	tRParen
	tComma
	tOp    // a comparison operator
	tArith // + - * / ^
	tOther // [ ] and the like: never valid, named in the error
)

type token struct {
	kind tokKind
	pos  int
	text string // identifier name, decoded string, number lexeme or the character
	op   Op
	num  float64
}

// describe names a token for an error message.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of filter"
	case tIdent:
		return fmt.Sprintf("%q", t.text)
	case tQuotedIdent:
		return fmt.Sprintf("property %q", t.text)
	case tString:
		return "string " + Text(t.text).String()
	case tNumber:
		return "number " + t.text
	case tOp:
		return "'" + t.op.String() + "'"
	}
	return "'" + t.text + "'"
}

// lex splits s into tokens, the last being tEOF.
func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '(':
			toks = append(toks, token{kind: tLParen, pos: i, text: "("})
			i++
		case c == ')':
			toks = append(toks, token{kind: tRParen, pos: i, text: ")"})
			i++
		case c == ',':
			toks = append(toks, token{kind: tComma, pos: i, text: ","})
			i++
		case c == '=':
			toks = append(toks, token{kind: tOp, pos: i, op: Eq})
			i++
		case c == '<':
			op, n := Lt, 1
			if i+1 < len(s) && s[i+1] == '>' {
				op, n = Ne, 2
			} else if i+1 < len(s) && s[i+1] == '=' {
				op, n = Le, 2
			}
			toks = append(toks, token{kind: tOp, pos: i, op: op})
			i += n
		case c == '>':
			op, n := Gt, 1
			if i+1 < len(s) && s[i+1] == '=' {
				op, n = Ge, 2
			}
			toks = append(toks, token{kind: tOp, pos: i, op: op})
			i += n
		case c == '+' || c == '-' || c == '*' || c == '/' || c == '^':
			toks = append(toks, token{kind: tArith, pos: i, text: string(c)})
			i++
		case c == '!':
			return nil, errorf(i, "unexpected '!' (CQL2 writes not-equal as <>)")
		case c == '\'':
			t, n, err := lexString(s, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = n
		case c == '"':
			t, n, err := lexQuotedIdent(s, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = n
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])):
			t, n, err := lexNumber(s, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = n
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return nil, errorf(i, "invalid UTF-8")
			}
			if !isIdentStart(r) {
				if r == '[' || r == ']' {
					return nil, errorf(i, "arrays are not supported")
				}
				return nil, errorf(i, "unexpected character %q", r)
			}
			j := i + size
			for j < len(s) {
				r, size := utf8.DecodeRuneInString(s[j:])
				if !isIdentPart(r) || (r == utf8.RuneError && size == 1) {
					break
				}
				j += size
			}
			toks = append(toks, token{kind: tIdent, pos: i, text: s[i:j]})
			i = j
		}
	}
	return append(toks, token{kind: tEOF, pos: len(s)}), nil
}

// lexString reads a '…' literal at s[i], a doubled quote standing for one.
func lexString(s string, i int) (token, int, error) {
	var b strings.Builder
	j := i + 1
	for {
		if j >= len(s) {
			return token{}, 0, errorf(i, "unterminated string")
		}
		if s[j] == '\'' {
			if j+1 < len(s) && s[j+1] == '\'' {
				b.WriteByte('\'')
				j += 2
				continue
			}
			return token{kind: tString, pos: i, text: b.String()}, j + 1, nil
		}
		r, size := utf8.DecodeRuneInString(s[j:])
		if r == utf8.RuneError && size == 1 {
			return token{}, 0, errorf(j, "invalid UTF-8 in string")
		}
		if isControl(r) && r != '\t' && r != '\n' && r != '\r' {
			return token{}, 0, errorf(j, "control character %U in string", r)
		}
		b.WriteString(s[j : j+size])
		j += size
	}
}

// lexQuotedIdent reads a "…" property name at s[i].
func lexQuotedIdent(s string, i int) (token, int, error) {
	j := i + 1
	for {
		if j >= len(s) {
			return token{}, 0, errorf(i, "unterminated quoted property name")
		}
		if s[j] == '"' {
			break
		}
		r, size := utf8.DecodeRuneInString(s[j:])
		if r == utf8.RuneError && size == 1 {
			return token{}, 0, errorf(j, "invalid UTF-8 in property name")
		}
		if isControl(r) {
			return token{}, 0, errorf(j, "control character %U in property name", r)
		}
		j += size
	}
	if j == i+1 {
		return token{}, 0, errorf(i, "empty property name")
	}
	return token{kind: tQuotedIdent, pos: i, text: s[i+1 : j]}, j + 1, nil
}

// lexNumber reads an unsigned number: digits [. digits] [E [sign] digits],
// or . digits [E …].
func lexNumber(s string, i int) (token, int, error) {
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	if j < len(s) && s[j] == '.' {
		j++
		for j < len(s) && isDigit(s[j]) {
			j++
		}
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		j++
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j == k {
			return token{}, 0, errorf(i, "malformed number %q", s[i:j])
		}
	}
	if j < len(s) {
		if r, size := utf8.DecodeRuneInString(s[j:]); isIdentPart(r) && !(r == utf8.RuneError && size == 1) {
			return token{}, 0, errorf(i, "malformed number %q", s[i:j+size])
		}
	}
	f, err := strconv.ParseFloat(s[i:j], 64)
	if err != nil {
		return token{}, 0, errorf(i, "number %s out of range", s[i:j])
	}
	return token{kind: tNumber, pos: i, text: s[i:j], num: f}, j, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isControl(r rune) bool { return r < 0x20 || (0x7f <= r && r < 0xa0) }

// isIdentStart and isIdentPart follow the identifier production of the
// CQL2 grammar.
func isIdentStart(r rune) bool {
	switch {
	case r == ':' || r == '_' || ('A' <= r && r <= 'Z') || ('a' <= r && r <= 'z'):
		return true
	case r < 0xC0:
		return false
	}
	return (0xC0 <= r && r <= 0xD6) || (0xD8 <= r && r <= 0xF6) || (0xF8 <= r && r <= 0x2FF) ||
		(0x370 <= r && r <= 0x37D) || (0x37F <= r && r <= 0x1FFE) || (0x200C <= r && r <= 0x200D) ||
		(0x2070 <= r && r <= 0x218F) || (0x2C00 <= r && r <= 0x2FEF) || (0x3001 <= r && r <= 0xD7FF) ||
		(0xF900 <= r && r <= 0xFDCF) || (0xFDF0 <= r && r <= 0xFFFD) || (0x10000 <= r && r <= 0xEFFFF)
}

func isIdentPart(r rune) bool {
	return isIdentStart(r) || r == '.' || ('0' <= r && r <= '9') ||
		(0x300 <= r && r <= 0x36F) || r == 0x203F || r == 0x2040
}

// isPlainIdentifier reports whether s lexes as one bare identifier.
func isPlainIdentifier(s string) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			return false
		}
		if i == 0 && !isIdentStart(r) || !isIdentPart(r) {
			return false
		}
	}
	return s != ""
}

// isKeyword reports whether s is a word with a meaning of its own; a
// property so named is written in double quotes. Matching is ASCII
// case-insensitive, never Unicode folding, so that a name like "Iſ" stays a
// name.
func isKeyword(s string) bool {
	if len(s) > len("GEOMETRYCOLLECTION") {
		return false
	}
	switch upperASCII(s) {
	case "AND", "OR", "NOT", "IS", "NULL", "LIKE", "BETWEEN", "IN", "TRUE", "FALSE",
		"DATE", "TIMESTAMP", "INTERVAL", "S_INTERSECTS", "BBOX", "ENVELOPE",
		"POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON",
		"GEOMETRYCOLLECTION", "CASEI", "ACCENTI":
		return true
	}
	return false
}

// isReserved reports whether s is a word that can never be a bare property
// name; the other keywords (DATE, POINT, BBOX…) mean themselves only before
// '('.
func isReserved(s string) bool {
	switch upperASCII(s) {
	case "AND", "OR", "NOT", "IS", "NULL", "LIKE", "BETWEEN", "IN", "TRUE", "FALSE":
		return true
	}
	return false
}

func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// equalFoldASCII compares s with the upper-case ASCII word k, ignoring the
// case of ASCII letters only.
func equalFoldASCII(s, k string) bool {
	if len(s) != len(k) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != k[i] {
			return false
		}
	}
	return true
}
