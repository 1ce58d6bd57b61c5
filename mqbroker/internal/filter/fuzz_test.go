package filter

import "testing"

// FuzzParse checks that Parse never panics, that every accepted expression renders to a form
// that parses back to the same rendering, and that both evaluate alike.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"a between 0 and 3",
		"(TAGS is not null and TAGS in ('TagA', 'TagB')) and (a is not null and a between 0 and 3)",
		"a=3 and b<>4 And c>5 AND d<=4",
		"a not in ('it''s', 'b') or not (b is null)",
		"- -1.5e3 <= x or y > 2147483648 or z = TRUE",
		"a = 1 -- c\n or /* d */ b = 2",
		"NOT NOT a",
	} {
		f.Add(s)
	}
	ctx := props("a", "1", "b", "x", "TAGS", "TagA", "x", "-3", "y", "3000000000", "z", "true")
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src)
		if err != nil {
			return
		}
		s := e.String()
		e2, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) renders %q, which does not parse: %v", src, s, err)
		}
		if s2 := e2.String(); s2 != s {
			t.Fatalf("Parse(%q) renders %q, which renders %q", src, s, s2)
		}
		if e.Match(ctx) != e2.Match(ctx) {
			t.Fatalf("%q and its rendering %q match differently", src, s)
		}
	})
}
