package paynotify

import (
	"errors"
	"net/url"
	"testing"
	"time"
)

const secret = "notify-secret-0123456789abcdef0123456789"

func notice() Notice {
	return Notice{OutTradeNo: "20260501120000123456789012345678", TradeNo: "2026050122001", AmountCents: 9540,
		TradeStatus: TradeStatus, NotifyTime: time.Date(2026, 5, 1, 12, 3, 4, 0, time.UTC)}
}

// TestSign_golden pins the signing rule: fields but sign, sorted, k=v joined by &.
func TestSign_golden(t *testing.T) {
	t.Parallel()
	v := Signed(secret, notice())
	// printf 'notify_time=2026-05-01 12:03:04&out_trade_no=20260501120000123456789012345678&sign_type=HMAC-SHA256&total_amount=95.40&trade_no=2026050122001&trade_status=TRADE_SUCCESS' | openssl dgst -sha256 -hmac notify-secret-0123456789abcdef0123456789
	const want = "e78c5067cc243c2f186df9247d50dadb9d331228309506350bb498f7e9fa8c8e"
	if got := v.Get("sign"); got != want {
		t.Errorf("sign = %s, want %s", got, want)
	}
	if v.Get("total_amount") != "95.40" || v.Get("sign_type") != SignType {
		t.Errorf("fields %v", v)
	}
	n, err := Verify(secret, v)
	if err != nil || n != notice() {
		t.Fatalf("Verify(Signed) = %+v, %v", n, err)
	}
	// An empty field is not signed: adding one changes nothing.
	v.Set("body", "")
	if _, err := Verify(secret, v); err != nil {
		t.Errorf("an empty extra field: %v", err)
	}
}

// TestVerify_forgedNotifies is the forged-notify corpus.
func TestVerify_forgedNotifies(t *testing.T) {
	t.Parallel()
	edit := func(f func(url.Values)) url.Values {
		v := Signed(secret, notice())
		f(v)
		return v
	}
	resign := func(f func(url.Values)) url.Values {
		v := notice().Values()
		v.Set("sign_type", SignType)
		f(v)
		v.Set("sign", Sign(secret, v))
		return v
	}
	bad := map[string]url.Values{
		"no sign":        edit(func(v url.Values) { v.Del("sign") }),
		"wrong secret":   func() url.Values { return Signed("another-secret-another-secret-xxxx", notice()) }(),
		"amount changed": edit(func(v url.Values) { v.Set("total_amount", "95.41") }),
		"order changed":  edit(func(v url.Values) { v.Set("out_trade_no", "20260501120000123456789012345679") }),
		"extra field":    edit(func(v url.Values) { v.Set("buyer_id", "x") }),
		"upper-case hex": edit(func(v url.Values) { v.Set("sign", "A"+v.Get("sign")[1:]) }),
		"sign_type RSA2": edit(func(v url.Values) { v.Set("sign_type", "RSA2") }),
		"no sign_type":   edit(func(v url.Values) { v.Del("sign_type") }),
		"field twice":    edit(func(v url.Values) { v.Add("total_amount", "0.01") }),
		"sign twice":     edit(func(v url.Values) { v.Add("sign", v.Get("sign")) }),
		"truncated sign": edit(func(v url.Values) { v.Set("sign", v.Get("sign")[:63]) }),
		"empty form":     {},
	}
	for name, v := range bad {
		if _, err := Verify(secret, v); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, err)
		}
	}
	invalid := map[string]url.Values{
		"amount 95.4":        resign(func(v url.Values) { v.Set("total_amount", "95.4") }),
		"amount -1.00":       resign(func(v url.Values) { v.Set("total_amount", "-1.00") }),
		"amount 1e3":         resign(func(v url.Values) { v.Set("total_amount", "1e3") }),
		"amount 095.40":      resign(func(v url.Values) { v.Set("total_amount", "095.40") }),
		"amount huge":        resign(func(v url.Values) { v.Set("total_amount", "99999999999999999999.00") }),
		"status WAIT":        resign(func(v url.Values) { v.Set("trade_status", "WAIT_BUYER_PAY") }),
		"no trade_no":        resign(func(v url.Values) { v.Del("trade_no") }),
		"trade_no bad chars": resign(func(v url.Values) { v.Set("trade_no", "a b'--") }),
		"no order":           resign(func(v url.Values) { v.Del("out_trade_no") }),
		"bad time":           resign(func(v url.Values) { v.Set("notify_time", "yesterday") }),
	}
	for name, v := range invalid {
		if _, err := Verify(secret, v); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestYuan(t *testing.T) {
	t.Parallel()
	for s, c := range map[string]int64{"0.00": 0, "0.01": 1, "95.40": 9540, "1000.99": 100099} {
		if got, err := ParseYuan(s); err != nil || got != c {
			t.Errorf("ParseYuan(%q) = %d, %v", s, got, err)
		}
		if FormatYuan(c) != s {
			t.Errorf("FormatYuan(%d) = %s", c, FormatYuan(c))
		}
	}
}
