package mqclient

import (
	"testing"
	"time"
)

func TestRedeliveryBudget_ofTheClientDefault_isTheCliff_andOfMaxReconsumeTimes_isOverADay(t *testing.T) {
	t.Parallel()
	levels, err := ParseDelayLevels(DefaultDelayLevels)
	if err != nil {
		t.Fatal(err)
	}
	if len(levels) != 18 || levels[17] != 2*time.Hour {
		t.Fatalf("levels %v, want 18 ending at 2h", levels)
	}
	if got, want := RedeliveryBudget(levels, 16), 4*time.Hour+45*time.Minute+40*time.Second; got != want {
		t.Errorf("budget of 16 redeliveries = %v, want %v", got, want)
	}
	if got := RedeliveryBudget(levels, MaxReconsumeTimes); got < 24*time.Hour {
		t.Errorf("budget of MaxReconsumeTimes = %v, want at least a day", got)
	}
	var day int
	for total := time.Duration(0); total < 24*time.Hour; day++ {
		total += RedeliveryDelays(levels, day+1)[day]
	}
	if day != 26 {
		t.Errorf("a day of retries takes %d redeliveries, want 26 (the package comment says so)", day)
	}
	d := RedeliveryDelays(levels, 20)
	if d[0] != 10*time.Second || d[15] != 2*time.Hour || d[19] != 2*time.Hour {
		t.Errorf("delays %v: want 10s first and 2h from the 16th on", d)
	}
}

func TestParseDelayLevels_rejectsBadTables(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "  ", "1s x", "1s 5"} {
		if _, err := ParseDelayLevels(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
