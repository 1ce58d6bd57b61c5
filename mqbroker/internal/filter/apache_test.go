package filter

import (
	"bufio"
	"net/url"
	"os"
	"strings"
	"testing"
)

// TestApacheRocketMQ_evaluatesAsRocketMQFilter494 checks Parse and Eval against what Apache
// RocketMQ 4.9.4's rocketmq-filter answered for the same selectors and properties
// (testdata/apache_eval.tsv; testdata/README.md says how it was made). The one deviation
// allowed: Apache ignores input after a complete expression, Parse refuses it.
func TestApacheRocketMQ_evaluatesAsRocketMQFilter494(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/apache_eval.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	lines, trailing := 0, 0
	for sc.Scan() {
		lines++
		col := strings.Split(sc.Text(), "\t")
		if len(col) != 3 {
			t.Fatalf("line %d: %d columns", lines, len(col))
		}
		src, err := url.QueryUnescape(col[0])
		if err != nil {
			t.Fatal(err)
		}
		q, err := url.ParseQuery(col[1])
		if err != nil {
			t.Fatal(err)
		}
		props := func(name string) (string, bool) {
			if v, ok := q[name]; ok {
				return v[0], true
			}
			return "", false
		}
		want := col[2]
		e, err := Parse(src)
		if err != nil {
			if want != "PARSE_ERROR" {
				if strings.Contains(err.Error(), "after the expression") {
					trailing++
					continue
				}
				t.Errorf("Parse(%q): %v; Apache parsed it (%s)", src, err, want)
			}
			continue
		}
		if want == "PARSE_ERROR" {
			t.Errorf("Parse(%q) = %s; Apache refused it", src, e)
			continue
		}
		got := "NULL"
		switch r, ok, err := e.Eval(props); {
		case err != nil:
			got = "ERROR"
		case ok && r:
			got = "TRUE"
		case ok:
			got = "FALSE"
		}
		if got != want {
			t.Errorf("%q with %s: %s, Apache %s", src, col[1], got, want)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines < 1000 {
		t.Fatalf("only %d cases", lines)
	}
	t.Logf("%d cases; %d refused here for trailing input that Apache ignores", lines, trailing)
}
