package filter

import (
	"fmt"
	"strings"
)

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tDecimal
	tFloat
	tNot
	tAnd
	tOr
	tBetween
	tIn
	tTrue
	tFalse
	tNull
	tIs
	tEq // =
	tNe // <>
	tGt // >
	tGe // >=
	tLt // <
	tLe // <=
	tLParen
	tRParen
	tComma
	tPlus
	tMinus
)

var keywords = map[string]tokKind{
	"NOT": tNot, "AND": tAnd, "OR": tOr, "BETWEEN": tBetween, "IN": tIn,
	"TRUE": tTrue, "FALSE": tFalse, "NULL": tNull, "IS": tIs,
}

var tokNames = [...]string{
	tEOF: "end of input", tIdent: "identifier", tString: "string", tDecimal: "number", tFloat: "number",
	tNot: "NOT", tAnd: "AND", tOr: "OR", tBetween: "BETWEEN", tIn: "IN", tTrue: "TRUE", tFalse: "FALSE",
	tNull: "NULL", tIs: "IS", tEq: "=", tNe: "<>", tGt: ">", tGe: ">=", tLt: "<", tLe: "<=",
	tLParen: "(", tRParen: ")", tComma: ",", tPlus: "+", tMinus: "-",
}

type token struct {
	kind tokKind
	pos  int    // byte offset in the input
	text string // the source text (for strings: the decoded value)
}

func (t token) describe() string {
	switch t.kind {
	case tIdent, tDecimal, tFloat:
		return fmt.Sprintf("%s %q", tokNames[t.kind], t.text)
	case tString:
		return "string " + quote(t.text)
	}
	return fmt.Sprintf("%q", tokNames[t.kind])
}

// lex splits src into tokens, ending with tEOF.
func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for {
		// Skip whitespace and comments.
		for i < len(src) {
			c := src[i]
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' {
				i++
				continue
			}
			if strings.HasPrefix(src[i:], "--") {
				// A line comment must end with a line break (as in Apache's grammar); else the
				// dashes are two minus signs.
				if j := strings.IndexAny(src[i:], "\r\n"); j >= 0 {
					i += j + 1
					continue
				}
			}
			if strings.HasPrefix(src[i:], "/*") {
				j := strings.Index(src[i+2:], "*/")
				if j < 0 {
					return nil, syntaxErr(i, "unterminated comment")
				}
				i += 2 + j + 2
				continue
			}
			break
		}
		if i >= len(src) {
			return append(toks, token{kind: tEOF, pos: i}), nil
		}
		start := i
		c := src[i]
		switch {
		case c == '\'':
			var b strings.Builder
			i++
			for {
				if i >= len(src) {
					return nil, syntaxErr(start, "unterminated string")
				}
				if src[i] == '\'' {
					if i+1 < len(src) && src[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(src[i])
				i++
			}
			toks = append(toks, token{kind: tString, pos: start, text: b.String()})
		case isDigit(c) || (c == '.' && i+1 < len(src) && isDigit(src[i+1])):
			tok, n := lexNumber(src[i:])
			tok.pos = start
			toks = append(toks, tok)
			i += n
		case isIdentStart(c):
			for i < len(src) && isIdentPart(src[i]) {
				i++
			}
			word := src[start:i]
			kind := tIdent
			if k, ok := keywords[strings.ToUpper(word)]; ok {
				kind = k
			}
			toks = append(toks, token{kind: kind, pos: start, text: word})
		default:
			kind, n := tEOF, 1
			switch c {
			case '=':
				kind = tEq
			case '<':
				kind = tLt
				if i+1 < len(src) && src[i+1] == '>' {
					kind, n = tNe, 2
				} else if i+1 < len(src) && src[i+1] == '=' {
					kind, n = tLe, 2
				}
			case '>':
				kind = tGt
				if i+1 < len(src) && src[i+1] == '=' {
					kind, n = tGe, 2
				}
			case '(':
				kind = tLParen
			case ')':
				kind = tRParen
			case ',':
				kind = tComma
			case '+':
				kind = tPlus
			case '-':
				kind = tMinus
			default:
				if c == '!' && i+1 < len(src) && src[i+1] == '=' {
					return nil, syntaxErr(i, "unexpected \"!=\" (write <>)")
				}
				return nil, syntaxErr(i, fmt.Sprintf("unexpected character %q", rune(c)))
			}
			toks = append(toks, token{kind: kind, pos: start, text: src[i : i+n]})
			i += n
		}
	}
}

// lexNumber scans the longest DECIMAL_LITERAL or FLOATING_POINT_LITERAL at the front of s
// (which starts with a digit, or a dot followed by a digit).
func lexNumber(s string) (token, int) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intEnd := i
	isFloat := false
	if i < len(s) && s[i] == '.' {
		isFloat = true
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if n := exponentLen(s[i:]); n > 0 {
		isFloat = true
		i += n
	}
	if isFloat {
		return token{kind: tFloat, text: s[:i]}, i
	}
	// DECIMAL_LITERAL: "0" | [1-9][0-9]* [lL]?  — a leading zero is a literal of its own.
	if s[0] == '0' {
		return token{kind: tDecimal, text: "0"}, 1
	}
	i = intEnd
	if i < len(s) && (s[i] == 'l' || s[i] == 'L') {
		i++
	}
	return token{kind: tDecimal, text: s[:i]}, i
}

// exponentLen is the length of an EXPONENT ("E" [+-]? digits, any case) at the front of s, or 0.
func exponentLen(s string) int {
	if len(s) < 2 || (s[0] != 'e' && s[0] != 'E') {
		return 0
	}
	i := 1
	if s[i] == '+' || s[i] == '-' {
		i++
	}
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	if j == i {
		return 0
	}
	return j
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$'
}
func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) }
