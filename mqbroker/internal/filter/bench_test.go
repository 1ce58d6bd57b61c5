package filter

import "testing"

const benchSelector = "(TAGS is not null and TAGS in ('TagA', 'TagB')) and (a is not null and a between 0 and 3)"

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := Parse(benchSelector); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMatch evaluates the distribution's example selector over a message's properties, as
// the broker does for each record a SQL92 pull reads.
func BenchmarkMatch(b *testing.B) {
	e, err := Parse(benchSelector)
	if err != nil {
		b.Fatal(err)
	}
	p := props("TAGS", "TagA", "a", "2", "UNIQ_KEY", "7F0000010000000000000000000000000001", "KEYS", "order-1")
	b.ReportAllocs()
	for b.Loop() {
		if !e.Match(p) {
			b.Fatal("no match")
		}
	}
}
