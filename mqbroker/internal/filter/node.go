package filter

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

type valueKind uint8

const (
	kNull valueKind = iota
	kBool
	kInt    // a Java Integer: decimal literals that fit in 32 bits
	kLong   // a Java Long
	kDouble // a Java Double
	kString
)

// value is one of Java's Boolean, Integer, Long, Double or String, or null.
type value struct {
	kind valueKind
	b    bool
	i    int64
	f    float64
	s    string
}

func boolValue(b bool) value  { return value{kind: kBool, b: b} }
func strValue(s string) value { return value{kind: kString, s: s} }

var nullValue = value{}

func (v value) isNumber() bool { return v.kind == kInt || v.kind == kLong || v.kind == kDouble }

func (v value) String() string {
	switch v.kind {
	case kNull:
		return "NULL"
	case kBool:
		if v.b {
			return "TRUE"
		}
		return "FALSE"
	case kInt, kLong:
		return strconv.FormatInt(v.i, 10)
	case kDouble:
		s := strconv.FormatFloat(v.f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEIN") {
			s += ".0" // keep it a float literal
		}
		return s
	}
	return quote(v.s)
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// node is one node of a compiled selector.
type node interface {
	eval(props Properties) (value, error)
	write(b *strings.Builder)
	boolean() bool // Apache's BooleanExpression: usable where a condition is needed
}

func render(n node) string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}

type constNode struct{ v value }

func (n *constNode) eval(Properties) (value, error) { return n.v, nil }
func (n *constNode) write(b *strings.Builder)       { b.WriteString(n.v.String()) }
func (n *constNode) boolean() bool                  { return n.v.kind == kBool || n.v.kind == kNull }

type propNode struct{ name string }

func (n *propNode) eval(props Properties) (value, error) {
	if props == nil {
		return nullValue, nil
	}
	if s, ok := props(n.name); ok {
		return strValue(s), nil
	}
	return nullValue, nil
}
func (n *propNode) write(b *strings.Builder) { b.WriteString(n.name) }
func (n *propNode) boolean() bool            { return false }

// boolCast is Apache's UnaryExpression.createBooleanCast: a property used as a condition.
type boolCast struct{ x node }

func (n *boolCast) eval(props Properties) (value, error) {
	v, err := n.x.eval(props)
	if err != nil || v.kind == kNull {
		return v, err
	}
	if v.kind != kBool {
		return boolValue(false), nil
	}
	return v, nil
}
func (n *boolCast) write(b *strings.Builder) { n.x.write(b) }
func (n *boolCast) boolean() bool            { return true }

// asBoolean is Apache's SelectorParser.asBooleanExpression.
func asBoolean(n node, pos int) (node, error) {
	if n.boolean() {
		return n, nil
	}
	if _, ok := n.(*propNode); ok {
		return &boolCast{x: n}, nil
	}
	return nil, syntaxErr(pos, "expression will not result in a boolean value: "+render(n))
}

type negNode struct{ x node }

func (n *negNode) eval(props Properties) (value, error) {
	v, err := n.x.eval(props)
	if err != nil {
		return v, err
	}
	switch v.kind {
	case kInt:
		return value{kind: kInt, i: int64(-int32(v.i))}, nil
	case kLong:
		return value{kind: kLong, i: -v.i}, nil
	case kDouble:
		return value{kind: kDouble, f: -v.f}, nil
	}
	return nullValue, nil // only numbers negate; a property (a string) gives NULL
}
func (n *negNode) write(b *strings.Builder) { b.WriteString("(- "); n.x.write(b); b.WriteString(")") }
func (n *negNode) boolean() bool            { return false }

type notNode struct{ x node }

func (n *notNode) eval(props Properties) (value, error) {
	v, err := n.x.eval(props)
	if err != nil || v.kind == kNull {
		return v, err
	}
	if v.kind != kBool {
		return nullValue, fmt.Errorf("filter: NOT of %s", v)
	}
	return boolValue(!v.b), nil
}
func (n *notNode) write(b *strings.Builder) { b.WriteString("(NOT "); n.x.write(b); b.WriteString(")") }
func (n *notNode) boolean() bool            { return true }

type logicOp uint8

const (
	opAnd logicOp = iota
	opOr
)

type logicNode struct {
	op   logicOp
	l, r node
}

func logic(op logicOp, l, r node, pos int) (node, error) {
	l, err := asBoolean(l, pos)
	if err != nil {
		return nil, err
	}
	if r, err = asBoolean(r, pos); err != nil {
		return nil, err
	}
	return &logicNode{op: op, l: l, r: r}, nil
}

func asBool(v value) (b, known bool, err error) {
	switch v.kind {
	case kNull:
		return false, false, nil
	case kBool:
		return v.b, true, nil
	}
	return false, false, fmt.Errorf("filter: %s is not a boolean", v)
}

// eval follows Apache's LogicExpression: the right side is evaluated unless the left decides.
func (n *logicNode) eval(props Properties) (value, error) {
	lv, err := n.l.eval(props)
	if err != nil {
		return nullValue, err
	}
	lb, lk, err := asBool(lv)
	if err != nil {
		return nullValue, err
	}
	decisive := n.op == opOr // OR: TRUE decides; AND: FALSE decides
	if lk && lb == decisive {
		return boolValue(decisive), nil
	}
	rv, err := n.r.eval(props)
	if err != nil {
		return nullValue, err
	}
	rb, rk, err := asBool(rv)
	if err != nil {
		return nullValue, err
	}
	if rk && rb == decisive {
		return boolValue(decisive), nil
	}
	if !lk || !rk {
		return nullValue, nil
	}
	return boolValue(!decisive), nil
}

func (n *logicNode) write(b *strings.Builder) {
	b.WriteString("(")
	n.l.write(b)
	if n.op == opAnd {
		b.WriteString(" AND ")
	} else {
		b.WriteString(" OR ")
	}
	n.r.write(b)
	b.WriteString(")")
}
func (n *logicNode) boolean() bool { return true }

// equalNode is Apache's ComparisonExpression.doCreateEqual.
type equalNode struct{ l, r node }

func newEqual(l, r node, pos int) (node, error) {
	for _, x := range []node{l, r} {
		if c, ok := x.(*constNode); ok && c.v.kind == kNull {
			return nil, syntaxErr(pos, "NULL cannot be compared with = or <> (use IS NULL)")
		}
	}
	lc, lok := l.(*constNode)
	rc, rok := r.(*constNode)
	if lok && rok && lc.v.kind == kBool && rc.v.kind != kBool {
		return nil, syntaxErr(pos, fmt.Sprintf("%s cannot be compared with %s", lc.v, rc.v))
	}
	return &equalNode{l: l, r: r}, nil
}

func (n *equalNode) eval(props Properties) (value, error) {
	lv, err := n.l.eval(props)
	if err != nil {
		return nullValue, err
	}
	rv, err := n.r.eval(props)
	if err != nil {
		return nullValue, err
	}
	return equalValues(lv, rv)
}

func equalValues(lv, rv value) (value, error) {
	ln, rn := lv.kind == kNull, rv.kind == kNull
	if ln || rn {
		if ln && rn {
			return boolValue(true), nil
		}
		if ln {
			return nullValue, nil
		}
		return boolValue(false), nil
	}
	if javaEquals(lv, rv) {
		return boolValue(true), nil
	}
	c, err := compareValues(lv, rv)
	if err != nil {
		return nullValue, err
	}
	return boolValue(c == 0), nil
}

func (n *equalNode) write(b *strings.Builder) {
	b.WriteString("(")
	n.l.write(b)
	b.WriteString(" = ")
	n.r.write(b)
	b.WriteString(")")
}
func (n *equalNode) boolean() bool { return true }

type isNullNode struct{ x node }

func (n *isNullNode) eval(props Properties) (value, error) {
	v, err := n.x.eval(props)
	if err != nil {
		return nullValue, err
	}
	return boolValue(v.kind == kNull), nil
}
func (n *isNullNode) write(b *strings.Builder) {
	b.WriteString("(")
	n.x.write(b)
	b.WriteString(" IS NULL)")
}
func (n *isNullNode) boolean() bool { return true }

type compareOp uint8

const (
	opGt compareOp = iota
	opGe
	opLt
	opLe
)

var compareOps = map[tokKind]compareOp{tGt: opGt, tGe: opGe, tLt: opLt, tLe: opLe}
var compareSymbols = [...]string{opGt: ">", opGe: ">=", opLt: "<", opLe: "<="}

type compareNode struct {
	op   compareOp
	l, r node
}

// newCompare applies Apache's checkLessThanOperand to both sides.
func newCompare(op compareOp, l, r node, pos int) (node, error) {
	for _, x := range []node{l, r} {
		if c, ok := x.(*constNode); ok {
			if !c.v.isNumber() {
				return nil, syntaxErr(pos, fmt.Sprintf("value %s cannot be compared with %s", c.v, compareSymbols[op]))
			}
			continue
		}
		if x.boolean() {
			return nil, syntaxErr(pos, fmt.Sprintf("value %s cannot be compared with %s", render(x), compareSymbols[op]))
		}
	}
	return &compareNode{op: op, l: l, r: r}, nil
}

func (n *compareNode) eval(props Properties) (value, error) {
	lv, err := n.l.eval(props)
	if err != nil || lv.kind == kNull {
		return nullValue, err
	}
	rv, err := n.r.eval(props)
	if err != nil || rv.kind == kNull {
		return nullValue, err
	}
	var c int
	if lv.kind == kString && rv.kind == kString {
		// Strings are ordered only as numbers.
		lf, lerr := javaParseDouble(lv.s)
		rf, rerr := javaParseDouble(rv.s)
		if lerr != nil || rerr != nil {
			return nullValue, fmt.Errorf("filter: cannot compare strings %s and %s with %s", lv, rv, compareSymbols[n.op])
		}
		c = javaCompareDouble(lf, rf)
	} else if c, err = compareValues(lv, rv); err != nil {
		return nullValue, err
	}
	switch n.op {
	case opGt:
		return boolValue(c > 0), nil
	case opGe:
		return boolValue(c >= 0), nil
	case opLt:
		return boolValue(c < 0), nil
	}
	return boolValue(c <= 0), nil
}

func (n *compareNode) write(b *strings.Builder) {
	b.WriteString("(")
	n.l.write(b)
	b.WriteString(" " + compareSymbols[n.op] + " ")
	n.r.write(b)
	b.WriteString(")")
}
func (n *compareNode) boolean() bool { return true }

// newBetween is Apache's createBetween / createNotBetween: x BETWEEN a AND b is
// (x >= a AND x <= b); x NOT BETWEEN a AND b is (x < a OR x > b).
func newBetween(x, low, high node, not bool, pos int) (node, error) {
	if not {
		lt, err := newCompare(opLt, x, low, pos)
		if err != nil {
			return nil, err
		}
		gt, err := newCompare(opGt, x, high, pos)
		if err != nil {
			return nil, err
		}
		return &logicNode{op: opOr, l: lt, r: gt}, nil
	}
	lc, lok := low.(*constNode)
	hc, hok := high.(*constNode)
	if lok && hok {
		if lc.v.kind == kNull || hc.v.kind == kNull {
			return nil, syntaxErr(pos, "BETWEEN bounds cannot be NULL")
		}
		c, err := compareValues(hc.v, lc.v)
		if err != nil {
			return nil, syntaxErr(pos, err.Error())
		}
		if c < 0 {
			return nil, syntaxErr(pos, fmt.Sprintf("BETWEEN %s AND %s: the low bound must not exceed the high one", lc.v, hc.v))
		}
	}
	ge, err := newCompare(opGe, x, low, pos)
	if err != nil {
		return nil, err
	}
	le, err := newCompare(opLe, x, high, pos)
	if err != nil {
		return nil, err
	}
	return &logicNode{op: opAnd, l: ge, r: le}, nil
}

type inNode struct {
	prop *propNode
	list []string
	set  map[string]struct{}
	not  bool
}

func newIn(prop *propNode, list []string, not bool) node {
	set := make(map[string]struct{}, len(list))
	for _, s := range list {
		set[s] = struct{}{}
	}
	return &inNode{prop: prop, list: list, set: set, not: not}
}

func (n *inNode) eval(props Properties) (value, error) {
	v, _ := n.prop.eval(props)
	if v.kind != kString {
		return nullValue, nil
	}
	_, in := n.set[v.s]
	return boolValue(in != n.not), nil
}

func (n *inNode) write(b *strings.Builder) {
	b.WriteString("(")
	n.prop.write(b)
	if n.not {
		b.WriteString(" NOT IN (")
	} else {
		b.WriteString(" IN (")
	}
	for i, s := range n.list {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(s))
	}
	b.WriteString("))")
}
func (n *inNode) boolean() bool { return true }

// javaEquals is Object.equals between two non-null values: same class and same value (Double
// compares bits, so NaN equals NaN and 0.0 differs from -0.0).
func javaEquals(a, b value) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kBool:
		return a.b == b.b
	case kInt, kLong:
		return a.i == b.i
	case kDouble:
		return javaDoubleBits(a.f) == javaDoubleBits(b.f)
	}
	return a.s == b.s
}

// compareValues is Apache's ComparisonExpression.__compare with string conversion on: values of
// different types are converted up (int → long → double), a string next to a number or boolean
// is parsed as that type (failing with an error), and otherwise a value of another type orders
// before.
func compareValues(lv, rv value) (int, error) {
	if lv.kind != rv.kind {
		var err error
		switch lv.kind {
		case kBool:
			if rv.kind == kString {
				// Apache casts the Boolean to a String here and fails.
				return 0, fmt.Errorf("filter: cannot compare %s with %s", lv, rv)
			}
			return -1, nil
		case kInt, kLong:
			switch rv.kind {
			case kInt, kLong:
				lv.kind, rv.kind = kLong, kLong
			case kDouble:
				lv = value{kind: kDouble, f: float64(lv.i)}
			case kString:
				rv, err = parseAs(lv.kind, rv.s)
			default:
				return -1, nil
			}
		case kDouble:
			switch rv.kind {
			case kInt, kLong:
				rv = value{kind: kDouble, f: float64(rv.i)}
			case kString:
				rv, err = parseAs(kDouble, rv.s)
			default:
				return -1, nil
			}
		case kString:
			lv, err = parseAs(rv.kind, lv.s)
		default:
			return -1, nil
		}
		if err != nil {
			return 0, err
		}
	}
	switch lv.kind {
	case kBool:
		switch {
		case lv.b == rv.b:
			return 0, nil
		case rv.b:
			return -1, nil
		}
		return 1, nil
	case kInt, kLong:
		switch {
		case lv.i < rv.i:
			return -1, nil
		case lv.i > rv.i:
			return 1, nil
		}
		return 0, nil
	case kDouble:
		return javaCompareDouble(lv.f, rv.f), nil
	}
	return strings.Compare(lv.s, rv.s), nil
}

// parseAs converts a property string to a value of kind k as Java's valueOf would.
func parseAs(k valueKind, s string) (value, error) {
	switch k {
	case kBool:
		return boolValue(strings.EqualFold(s, "true")), nil
	case kInt, kLong:
		bits := 64
		if k == kInt {
			bits = 32
		}
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return nullValue, fmt.Errorf("filter: %s is not a number", quote(s))
		}
		return value{kind: k, i: n}, nil
	case kDouble:
		f, err := javaParseDouble(s)
		if err != nil {
			return nullValue, err
		}
		return value{kind: kDouble, f: f}, nil
	}
	return strValue(s), nil
}

// javaParseDouble accepts what Java's Double.valueOf accepts, except hexadecimal floats:
// surrounding whitespace, a sign, NaN, Infinity, digits with an optional point and exponent, and
// an optional f/F/d/D suffix.
func javaParseDouble(s string) (float64, error) {
	bad := func() (float64, error) { return 0, fmt.Errorf("filter: %s is not a number", quote(s)) }
	t := strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
	body := strings.TrimLeft(t, "+-")
	if len(t)-len(body) > 1 {
		return bad()
	}
	switch body {
	case "NaN", "Infinity":
		if body == "NaN" {
			return math.NaN(), nil
		}
		if strings.HasPrefix(t, "-") {
			return math.Inf(-1), nil
		}
		return math.Inf(1), nil
	}
	if n := len(body); n > 0 && strings.ContainsRune("fFdD", rune(body[n-1])) {
		body = body[:n-1]
		t = t[:len(t)-1]
	}
	// digits [. digits] [exponent] | . digits [exponent]
	i, digits := 0, 0
	for i < len(body) && isDigit(body[i]) {
		i, digits = i+1, digits+1
	}
	if i < len(body) && body[i] == '.' {
		i++
		for i < len(body) && isDigit(body[i]) {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return bad()
	}
	if i < len(body) {
		if n := exponentLen(body[i:]); n == 0 || i+n != len(body) {
			return bad()
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil && !isRange(err) {
		return bad()
	}
	return f, nil
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// javaDoubleBits is Double.doubleToLongBits: every NaN collapses to one canonical NaN.
func javaDoubleBits(f float64) int64 {
	if math.IsNaN(f) {
		return 0x7ff8000000000000
	}
	return int64(math.Float64bits(f))
}

// javaCompareDouble is Double.compare: -0.0 < 0.0 and NaN is greater than everything else.
func javaCompareDouble(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	ab, bb := javaDoubleBits(a), javaDoubleBits(b)
	switch {
	case ab < bb:
		return -1
	case ab > bb:
		return 1
	}
	return 0
}
