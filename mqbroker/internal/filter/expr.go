package filter

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrSyntax wraps every error of Parse.
var ErrSyntax = errors.New("filter: invalid SQL92 expression")

func syntaxErr(pos int, msg string) error {
	return fmt.Errorf("%w: at offset %d: %s", ErrSyntax, pos, msg)
}

// Expr is a compiled selector. It is immutable and safe for concurrent use.
type Expr struct {
	root node
	src  string
}

// Source is the text the expression was parsed from.
func (e *Expr) Source() string { return e.src }

// String renders e fully parenthesised; Parse(e.String()) yields an equal Expr.
func (e *Expr) String() string {
	var b strings.Builder
	e.root.write(&b)
	return b.String()
}

// Properties looks up a message property; ok is false when the message has none of that name.
type Properties func(name string) (value string, ok bool)

// Match reports whether the message whose properties props returns satisfies e: the selector
// evaluates to TRUE. NULL (unknown), FALSE and evaluation errors do not match.
func (e *Expr) Match(props Properties) bool {
	v, err := e.root.eval(props)
	return err == nil && v.kind == kBool && v.b
}

// Eval evaluates e: the result is TRUE, FALSE or NULL (ok false), or an evaluation error (as
// when a property compared with a number is not a number).
func (e *Expr) Eval(props Properties) (result, ok bool, err error) {
	v, err := e.root.eval(props)
	if err != nil {
		return false, false, err
	}
	switch v.kind {
	case kNull:
		return false, false, nil
	case kBool:
		return v.b, true, nil
	}
	return false, false, fmt.Errorf("filter: selector yields %s, not a boolean", v)
}

// MaxLen bounds the length of a selector, so that what a peer sends cannot make the broker
// build an arbitrarily large expression (Apache has no bound; no real selector comes close).
const MaxLen = 64 << 10

// Parse compiles a SQL92 selector. Errors wrap ErrSyntax and name the offset of the problem.
func Parse(src string) (*Expr, error) {
	if len(src) > MaxLen {
		return nil, fmt.Errorf("%w: %d bytes, longer than %d", ErrSyntax, len(src), MaxLen)
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.selector()
	if err != nil {
		return nil, err
	}
	return &Expr{root: n, src: src}, nil
}

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 200

type parser struct {
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token  { return p.toks[p.i] }
func (p *parser) peek2() token { return p.toks[min(p.i+1, len(p.toks)-1)] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

func (p *parser) expect(k tokKind) (token, error) {
	t := p.next()
	if t.kind != k {
		return t, syntaxErr(t.pos, fmt.Sprintf("expected %q, found %s", tokNames[k], t.describe()))
	}
	return t, nil
}

func (p *parser) selector() (node, error) {
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, syntaxErr(t.pos, "unexpected "+t.describe()+" after the expression")
	}
	return asBoolean(n, 0)
}

func (p *parser) or() (node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, syntaxErr(p.peek().pos, "expression nested too deeply")
	}
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tOr {
		t := p.next()
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		if left, err = logic(opOr, left, right, t.pos); err != nil {
			return nil, err
		}
	}
	return left, nil
}

func (p *parser) and() (node, error) {
	left, err := p.equality()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tAnd {
		t := p.next()
		right, err := p.equality()
		if err != nil {
			return nil, err
		}
		if left, err = logic(opAnd, left, right, t.pos); err != nil {
			return nil, err
		}
	}
	return left, nil
}

func (p *parser) equality() (node, error) {
	left, err := p.comparison()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case t.kind == tEq || t.kind == tNe:
			p.next()
			right, err := p.comparison()
			if err != nil {
				return nil, err
			}
			if left, err = newEqual(left, right, t.pos); err != nil {
				return nil, err
			}
			if t.kind == tNe {
				left = &notNode{x: left}
			}
		case t.kind == tIs && p.peek2().kind == tNull:
			p.next()
			p.next()
			left = &isNullNode{x: left}
		case t.kind == tIs:
			p.next()
			if _, err := p.expect(tNot); err != nil {
				return nil, err
			}
			if _, err := p.expect(tNull); err != nil {
				return nil, err
			}
			left = &notNode{x: &isNullNode{x: left}}
		default:
			return left, nil
		}
	}
}

func (p *parser) comparison() (node, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		not := false
		switch t.kind {
		case tGt, tGe, tLt, tLe:
			p.next()
			right, err := p.unary()
			if err != nil {
				return nil, err
			}
			if left, err = newCompare(compareOps[t.kind], left, right, t.pos); err != nil {
				return nil, err
			}
			continue
		case tNot:
			if k := p.peek2().kind; k != tBetween && k != tIn {
				return left, nil
			}
			p.next()
			not = true
			t = p.peek()
		case tBetween, tIn:
		default:
			return left, nil
		}
		p.next()
		if t.kind == tBetween {
			low, err := p.unary()
			if err != nil {
				return nil, err
			}
			if _, err := p.expect(tAnd); err != nil {
				return nil, err
			}
			high, err := p.unary()
			if err != nil {
				return nil, err
			}
			if left, err = newBetween(left, low, high, not, t.pos); err != nil {
				return nil, err
			}
			continue
		}
		// IN ( 'a', 'b' )
		if _, err := p.expect(tLParen); err != nil {
			return nil, err
		}
		var list []string
		for {
			s, err := p.expect(tString)
			if err != nil {
				return nil, err
			}
			list = append(list, s.text)
			if p.peek().kind != tComma {
				break
			}
			p.next()
		}
		if _, err := p.expect(tRParen); err != nil {
			return nil, err
		}
		prop, ok := left.(*propNode)
		if !ok {
			return nil, syntaxErr(t.pos, "IN needs a property on its left, got "+render(left))
		}
		left = newIn(prop, list, not)
	}
}

func (p *parser) unary() (node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, syntaxErr(p.peek().pos, "expression nested too deeply")
	}
	t := p.peek()
	switch t.kind {
	case tPlus:
		p.next()
		return p.unary()
	case tMinus:
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &negNode{x: x}, nil
	case tNot:
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		b, err := asBoolean(x, t.pos)
		if err != nil {
			return nil, err
		}
		return &notNode{x: b}, nil
	}
	return p.primary()
}

func (p *parser) primary() (node, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return &constNode{v: strValue(t.text)}, nil
	case tDecimal:
		text := strings.TrimRight(t.text, "lL")
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, syntaxErr(t.pos, fmt.Sprintf("number %s does not fit in a long", t.text))
		}
		if n >= math.MinInt32 && n <= math.MaxInt32 {
			return &constNode{v: value{kind: kInt, i: n}}, nil
		}
		return &constNode{v: value{kind: kLong, i: n}}, nil
	case tFloat:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, syntaxErr(t.pos, fmt.Sprintf("bad number %s", t.text))
		}
		if f > math.MaxFloat64 {
			return nil, syntaxErr(t.pos, fmt.Sprintf("%s is greater than %v", t.text, math.MaxFloat64))
		}
		if f < math.SmallestNonzeroFloat64 {
			// Apache rejects every double below Double.MIN_VALUE, 0.0 included.
			return nil, syntaxErr(t.pos, fmt.Sprintf("%s is less than %v", t.text, math.SmallestNonzeroFloat64))
		}
		return &constNode{v: value{kind: kDouble, f: f}}, nil
	case tTrue:
		return &constNode{v: boolValue(true)}, nil
	case tFalse:
		return &constNode{v: boolValue(false)}, nil
	case tNull:
		return &constNode{v: value{kind: kNull}}, nil
	case tIdent:
		return &propNode{name: t.text}, nil
	case tLParen:
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen); err != nil {
			return nil, err
		}
		return n, nil
	}
	return nil, syntaxErr(t.pos, "unexpected "+t.describe())
}
