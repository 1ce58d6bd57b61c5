package filter

import (
	"errors"
	"strings"
	"testing"
)

func props(kv ...string) Properties {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(name string) (string, bool) { v, ok := m[name]; return v, ok }
}

// Cases from Apache RocketMQ's filter ExpressionTest, plus the null, coercion and error rules
// of its expression classes.
func TestMatch_followsApacheExpressionTest(t *testing.T) {
	t.Parallel()
	const (
		andExpr     = "a=3 and b<>4 And c>5 AND d<=4"
		orExpr      = "a=3 or b<>4 Or c>5 OR d<=4"
		inExpr      = "a in ('3', '4', '5')"
		notInExpr   = "a not in ('3', '4', '5')"
		betweenExpr = "a between 2 and 10"
		notBetween  = "a not between 2 and 10"
		equalExpr   = "a is not null and a='hello'"
		boolExpr    = "a=TRUE OR b=FALSE"
		nullOrExpr  = "a is null OR a='hello'"
		stringQuote = "TAGS is not null and TAGS='''''tag'''''"
		sqlExample  = "(TAGS is not null and TAGS in ('TagA', 'TagB')) and (a is not null and a between 0 and 3)"
	)
	tests := []struct {
		expr  string
		props Properties
		want  bool
	}{
		{stringQuote, props("TAGS", "''tag''"), true},
		{"a > 3.1E10", props("a", "3.1415E10"), true},
		{"a > 3.14", props("a", "3.1415"), true},
		{"a > b", props("a", "10", "b", "20"), false},
		{"a > b", props("a", "20", "b", "10"), true},
		{nullOrExpr, props(), true},
		{nullOrExpr, props("a", "hello"), true},
		{nullOrExpr, props("a", "abc"), false},
		{boolExpr, props("a", "true", "b", "false"), true},
		{boolExpr, props("a", "false", "b", "true"), false},
		{equalExpr, props("a", "hello"), true},
		{equalExpr, props(), false},
		{andExpr, props("a", "3", "b", "5", "c", "6", "d", "1"), true},
		{andExpr, props("a", "4", "b", "5", "c", "6", "d", "1"), false},
		{orExpr, props("a", "3"), true},
		{orExpr, props("a", "4", "b", "5"), true},
		{orExpr, props("a", "4", "b", "4", "c", "6"), true},
		{orExpr, props("a", "4", "b", "4", "c", "3", "d", "2"), true},
		{orExpr, props("a", "4", "b", "4", "c", "3", "d", "10"), false},
		{inExpr, props("a", "3"), true},
		{inExpr, props("a", "5"), true},
		{inExpr, props("a", "8"), false},
		{notInExpr, props("a", "8"), true},
		{notInExpr, props("a", "4"), false},
		{notInExpr, props(), false}, // NULL NOT IN (...) is NULL
		{betweenExpr, props("a", "2"), true},
		{betweenExpr, props("a", "10"), true},
		{betweenExpr, props("a", "3"), true},
		{betweenExpr, props("a", "1"), false},
		{betweenExpr, props("a", "11"), false},
		{notBetween, props("a", "1"), true},
		{notBetween, props("a", "11"), true},
		{notBetween, props("a", "2"), false},
		{notBetween, props("a", "3"), false},
		{"a is null", props("abc", "2"), true},
		{"a is null", props("a", "2"), false},
		{"a is not null", props("a", "2"), true},
		{"a is not null", props("abc", "2"), false},
		{"a=b", props("a", "3.14", "b", "3.14"), true},
		{"a<>b", props("a", "3.14", "b", "3.14"), false},
		{"a<>b", props("a", "3.14", "b", "3.141"), true},
		{"a between up and low", props("a", "3.14"), false},                       // NULL bounds
		{"a between up and low", props("a", "3.14", "up", "up"), false},           // error: not numbers
		{"key is not null and key between 0 and 100", props("key", "con"), false}, // error
		{"a between 0 and 100", props("a", "abc"), false},                         // error
		// The distribution's SqlFilterConsumer selector.
		{sqlExample, props("TAGS", "TagA", "a", "0"), true},
		{sqlExample, props("TAGS", "TagB", "a", "3"), true},
		{sqlExample, props("TAGS", "TagC", "a", "1"), false},
		{sqlExample, props("TAGS", "TagA", "a", "4"), false},
		{sqlExample, props("TAGS", "TagA"), false},
		// Null handling.
		{"a = b", props(), true}, // both NULL: equal, as in Apache
		{"a = 'x'", props(), false},
		{"a <> 'x'", props(), false}, // NOT NULL is NULL
		{"NOT (a = 'x')", props(), false},
		{"a = 'x' OR TRUE", props(), true},
		{"a = 'x' AND FALSE", props(), false},
		{"NULL", props(), false},
		{"NOT NULL", props(), false},
		{"TRUE", props(), true},
		{"FALSE", props(), false},
		{"NOT FALSE", props(), true},
		// Coercion: a property next to a literal takes the literal's type.
		{"a = 3", props("a", "3"), true},
		{"a = 3", props("a", "+3"), true},
		{"a = 3", props("a", "3.0"), false},                // Integer.valueOf fails: error
		{"a = 3.0", props("a", "3"), true},                 // Double.valueOf
		{"a > 1", props("a", "3000000000"), false},         // not an int: error
		{"a > 1L", props("a", "3000000000"), false},        // 1L is still an int literal
		{"a > 2147483648", props("a", "3000000000"), true}, // a long literal
		{"a >= 3.5", props("a", " 3.5d "), true},
		{"a < 1", props("a", "-5"), true},
		{"a = 'abc'", props("a", "abc"), true},
		{"a = 'ABC'", props("a", "abc"), false},
		{"a = TRUE", props("a", "TRUE"), true},
		{"a = TRUE", props("a", "yes"), false},
		{"a", props("a", "true"), false}, // a property is never a boolean
		{"a", props(), false},
		{"-a < 0", props("a", "3"), false}, // negating a string gives NULL
		{"a > -3", props("a", "-2"), true},
		{"a BETWEEN -1 AND 1", props("a", "0"), true},
		{"a = 3 AND b = 'x'", props("a", "x", "b", "y"), false}, // error on the left
		{"a = 3 OR b = 'x'", props("a", "x", "b", "x"), false},  // error is not caught by OR
		{"b = 'x' OR a = 3", props("a", "x", "b", "x"), true},   // TRUE decides before the error
		{"a > b", props("a", "1e3", "b", "999"), true},
		{"a > b", props("a", "x", "b", "1"), false},
		{"a IN ('x')", props("a", "x "), false},
		{"a = 1 -- a comment\n OR b = 2", props("b", "2"), true},
		{"/* c */ a = 1", props("a", "1"), true},
		{"A = 1", props("a", "1"), false}, // identifiers are case-sensitive
	}
	for _, tt := range tests {
		e, err := Parse(tt.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.expr, err)
			continue
		}
		if got := e.Match(tt.props); got != tt.want {
			t.Errorf("%q.Match = %v, want %v", tt.expr, got, tt.want)
		}
	}
}

func TestParse_rejectsWhatApacheRejects(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"",
		"a and between 2 and 10",
		" a between 10 and 0",
		"a > 100000000000000000000000",
		"a > 1" + strings.Repeat("1", 400) + "." + strings.Repeat("1", 10),
		"a > 1e999",
		"a > 0.0", // below Double.MIN_VALUE, as in Apache
		"a != 1",
		"a = NULL",
		"NULL = a",
		"TRUE = 1",
		"a > 'x'",
		"a > TRUE",
		"a > NULL",
		"(a > 1) > 2",
		"a BETWEEN 'a' AND 'b'",
		"a BETWEEN NULL AND 1",
		"3",
		"'x'",
		"-a",
		"NOT 3",
		"3 AND a",
		"'x' IN ('x')",
		"a IN ()",
		"a IN (1, 2)",
		"a IN ('x'",
		"a IS 1",
		"a = 'x",
		"a = 1 b",
		"a = 1)",
		"(a = 1",
		"a = 01",
		"a = 0L",
		"a = 1 -- unterminated comment",
		"/* a = 1",
		"a LIKE 'x%'",
		"a = é",
		"a.b = 1",
		strings.Repeat("(", 1000) + "a" + strings.Repeat(")", 1000),
		strings.Repeat("NOT ", 1000) + "a",
		strings.Repeat("a = 1 OR ", MaxLen/9+1) + "a = 1", // longer than MaxLen
	} {
		if e, err := Parse(src); err == nil {
			t.Errorf("Parse(%q) = %s, want an error", src, e)
		} else if !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) error %v does not wrap ErrSyntax", src, err)
		}
	}
}

func TestString_parsesBackToTheSameExpression(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"(TAGS is not null and TAGS in ('TagA', 'TagB')) and (a is not null and a between 0 and 3)",
		"a not between -1 and 2.5e3 or b not in ('it''s') or not c",
		"a = b = c",
		"- - 3 < a",
		"a > 2147483648 and b < 1.5 and c >= .5 and d = 5.",
		"a is null is null",
		"a = TRUE",
	} {
		e, err := Parse(src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		s := e.String()
		e2, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(String of %q = %q): %v", src, s, err)
		}
		if s2 := e2.String(); s2 != s {
			t.Errorf("%q renders %q, which renders %q", src, s, s2)
		}
	}
}

func TestEval_reportsErrorsAndNull(t *testing.T) {
	t.Parallel()
	e, _ := Parse("a > 3")
	if _, _, err := e.Eval(props("a", "x")); err == nil {
		t.Error("a > 3 with a='x': want an evaluation error")
	}
	if _, ok, err := e.Eval(props()); ok || err != nil {
		t.Errorf("a > 3 with no a: ok=%v err=%v, want NULL", ok, err)
	}
	if r, ok, err := e.Eval(props("a", "4")); !r || !ok || err != nil {
		t.Errorf("a > 3 with a=4: %v %v %v", r, ok, err)
	}
}

func TestCache_parsesEachSourceOnce(t *testing.T) {
	t.Parallel()
	c := NewCache(2)
	e1, err := c.Parse("a = 1")
	if err != nil {
		t.Fatal(err)
	}
	if e2, _ := c.Parse("a = 1"); e2 != e1 {
		t.Error("second Parse of the same source compiled again")
	}
	if _, err := c.Parse("a ="); !errors.Is(err, ErrSyntax) {
		t.Errorf("cached error: %v", err)
	}
	if _, err := c.Parse("a ="); !errors.Is(err, ErrSyntax) {
		t.Errorf("cached error, second time: %v", err)
	}
	long := strings.Repeat("a = 1 OR ", maxCachedLen/9+1) + "a = 1"
	if l1, _ := c.Parse(long); l1 == nil {
		t.Fatal("long selector did not parse")
	} else if l2, _ := c.Parse(long); l2 == l1 {
		t.Error("a selector longer than maxCachedLen was cached")
	}
	if e, _ := c.Parse("a = 1"); e != e1 {
		t.Error("a long selector evicted the cache")
	}
	c.Parse("b = 1") // over the limit: starts over
	if e3, err := c.Parse("a = 1"); err != nil || e3 == e1 {
		t.Errorf("after starting over: %v, same=%v", err, e3 == e1)
	}
}
