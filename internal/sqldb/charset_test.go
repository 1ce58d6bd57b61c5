package sqldb

import (
	"strings"
	"testing"
)

// A multi-byte charset such as gbk would let an interpolated value end its string literal, and
// the multi-statement pools would run what follows: only utf8mb4 is accepted.
func TestReview_NormalizeMySQLDSN_refusesCharsetsOtherThanUtf8mb4(t *testing.T) {
	for _, dsn := range []string{
		"u:pw@tcp(db:3306)/orders?charset=gbk",
		"u:pw@tcp(db:3306)/orders?charset=utf8mb4,sjis",
		"u:pw@tcp(db:3306)/orders?parseTime=true&charset=big5",
		"u:pw@tcp(db:3306)/orders?character_set_client=gbk",
		"u:pw@tcp(db:3306)/orders?character_set_connection=gbk",
	} {
		if got, err := NormalizeMySQLDSN(dsn); err == nil {
			t.Errorf("NormalizeMySQLDSN(%q) = %q, want an error", dsn, got)
		} else if !strings.Contains(err.Error(), "utf8mb4") {
			t.Errorf("NormalizeMySQLDSN(%q): error %q does not name utf8mb4", dsn, err)
		}
	}
	for _, dsn := range []string{
		"u:pw@tcp(db:3306)/orders",
		"u:pw@tcp(db:3306)/orders?charset=utf8mb4",
		"u:pw@tcp(db:3306)/orders?charset=UTF8MB4&parseTime=true",
	} {
		if _, err := NormalizeMySQLDSN(dsn); err != nil {
			t.Errorf("NormalizeMySQLDSN(%q): %v", dsn, err)
		}
	}
}
