// Package filter implements RocketMQ's SQL92 message selector: the grammar of Apache RocketMQ's
// rocketmq-filter module (org/apache/rocketmq/filter/parser/SelectorParser.jj, itself ActiveMQ's
// JMS selector without LIKE, arithmetic, hex and octal literals) and the evaluation rules of its
// expression classes, over a message's user properties and its TAGS property.
//
// It is a pure leaf package: it imports only the standard library and must not import any other
// mqbroker package. Parse never panics; a compiled Expr is immutable and safe for concurrent use.
//
// # Grammar
//
//	selector   = or
//	or         = and { OR and }
//	and        = equality { AND equality }
//	equality   = comparison { "=" comparison | "<>" comparison | IS NULL | IS NOT NULL }
//	comparison = unary { (">" | ">=" | "<" | "<=") unary
//	                   | [NOT] BETWEEN unary AND unary
//	                   | [NOT] IN "(" string { "," string } ")" }
//	unary      = "+" unary | "-" unary | NOT unary | primary
//	primary    = literal | identifier | "(" or ")"
//	literal    = string | decimal | float | TRUE | FALSE | NULL
//
// Keywords (NOT AND OR BETWEEN IN TRUE FALSE NULL IS) are case-insensitive; identifiers
// ([A-Za-z_$][A-Za-z0-9_$]*) name properties and are case-sensitive. Strings are quoted with '
// and a quote inside one is written twice. Decimal literals are 0 or [1-9][0-9]* with an optional L
// suffix (an int when they fit in 32 bits, else a long; beyond 64 bits they are an error);
// floats are 1.5, 1., .5, 1e5, 1.5E-3 (a double; infinite or below Double.MIN_VALUE — which
// includes 0.0 — is an error, as in Apache). Whitespace is space, tab, CR, LF and FF; "--" line
// comments ended by a newline and /* block comments */ are skipped. There is no "!=": write <>.
//
// Errors at parse time, as in Apache: a non-boolean where a condition is needed (a literal
// number or string alone, an operand of AND/OR/NOT); NULL compared with = or <>; TRUE or FALSE
// on the left of = against a non-boolean literal; a string, boolean, NULL or a condition as an
// operand of < <= > >=; BETWEEN with literal bounds where the low one is greater or either is
// NULL; IN/NOT IN on anything but a property. Unlike Apache's parser, which stops after the
// first complete expression and ignores what follows, trailing input is an error here (in
// Apache "a LIKE 'x%'" silently means "a", which is never TRUE); so is a selector longer than
// MaxLen (64 KiB).
//
// # Evaluation
//
// Properties are strings; a property that is absent is NULL. A comparison with NULL is NULL
// (unknown), except that x = y is TRUE when both are NULL; AND, OR and NOT follow Apache's
// three-valued tables (FALSE AND NULL = FALSE, TRUE OR NULL = TRUE, NOT NULL = NULL). A message
// matches only when the selector evaluates to TRUE; NULL, FALSE and evaluation errors do not
// match. Type coercion follows Apache's ComparisonExpression: a property compared with an int,
// long or double literal is parsed as one (as Java's Integer/Long/Double.valueOf would; a value
// that does not parse is an evaluation error, so the message does not match); two properties
// compared with < <= > >= are both parsed as doubles; compared with = or <> they are equal only
// as identical strings; a property compared with TRUE/FALSE is true when it equals "true" in any
// case. A property used alone as a condition is FALSE (it is never a boolean). IN compares
// strings exactly. Unary minus applies to numbers only: "-a" on a property is NULL.
//
// String renders an Expr fully parenthesised in a form that parses back to the same Expr.
package filter
