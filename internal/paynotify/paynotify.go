// Package paynotify signs and verifies the payment provider's asynchronous notify, the
// form-encoded callback of POST /v1/payments/notify (modelled on Alipay's):
//
//	out_trade_no  the order number
//	trade_no      the provider's id of the trade (the notify is idempotent per trade_no)
//	total_amount  yuan with exactly two decimals, e.g. 95.40
//	trade_status  TRADE_SUCCESS
//	notify_time   "2006-01-02 15:04:05" (UTC) or RFC 3339
//	sign_type     HMAC-SHA256
//	sign          lowercase hex HMAC-SHA256, keyed with PAYMENT_NOTIFY_SECRET, over every other
//	              non-empty field sorted by name as k=v joined by & (values as sent, not escaped)
//
// Verify checks the signature in constant time before it looks at anything else, and refuses a
// field given twice (its signature would be ambiguous). Used by order_srv (verify; the payment
// simulator signs), and by tests and tools that play the provider.
package paynotify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The fixed values.
const (
	SignType    = "HMAC-SHA256"
	TradeStatus = "TRADE_SUCCESS"
	// TimeLayout is notify_time's layout (UTC).
	TimeLayout = "2006-01-02 15:04:05"
)

// Errors of Verify.
var (
	// ErrBadSignature: sign is missing, malformed or wrong, or sign_type is not HMAC-SHA256.
	ErrBadSignature = errors.New("paynotify: bad signature")
	// ErrInvalid: a field is missing or malformed (the signature was right).
	ErrInvalid = errors.New("paynotify: invalid notify")
)

// Notice is a notify's content.
type Notice struct {
	OutTradeNo  string
	TradeNo     string
	AmountCents int64
	TradeStatus string
	NotifyTime  time.Time
}

// Values returns n as unsigned form fields.
func (n Notice) Values() url.Values {
	return url.Values{
		"out_trade_no": {n.OutTradeNo},
		"trade_no":     {n.TradeNo},
		"total_amount": {FormatYuan(n.AmountCents)},
		"trade_status": {n.TradeStatus},
		"notify_time":  {n.NotifyTime.UTC().Format(TimeLayout)},
	}
}

// Sign returns the signature of v's fields other than sign.
func Sign(secret string, v url.Values) string {
	keys := make([]string, 0, len(v))
	for k, vs := range v {
		if k != "sign" && len(vs) > 0 && vs[0] != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + v.Get(k)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strings.Join(parts, "&")))
	return hex.EncodeToString(mac.Sum(nil))
}

// Signed returns n's fields with sign_type and sign set.
func Signed(secret string, n Notice) url.Values {
	v := n.Values()
	v.Set("sign_type", SignType)
	v.Set("sign", Sign(secret, v))
	return v
}

var (
	amountRE  = regexp.MustCompile(`^(0|[1-9][0-9]{0,12})\.[0-9]{2}$`)
	tradeNoRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	signRE    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Verify checks v's signature with secret and returns its Notice. Errors wrap ErrBadSignature
// or ErrInvalid.
func Verify(secret string, v url.Values) (Notice, error) {
	for k, vs := range v {
		if len(vs) != 1 {
			return Notice{}, fmt.Errorf("%w: field %q is given %d times", ErrBadSignature, k, len(vs))
		}
	}
	if v.Get("sign_type") != SignType {
		return Notice{}, fmt.Errorf("%w: sign_type must be %s", ErrBadSignature, SignType)
	}
	sign := v.Get("sign")
	if !signRE.MatchString(sign) {
		return Notice{}, fmt.Errorf("%w: sign must be 64 lowercase hex digits", ErrBadSignature)
	}
	if !hmac.Equal([]byte(sign), []byte(Sign(secret, v))) {
		return Notice{}, fmt.Errorf("%w: the signature does not match", ErrBadSignature)
	}
	var problems []string
	n := Notice{OutTradeNo: v.Get("out_trade_no"), TradeNo: v.Get("trade_no"), TradeStatus: v.Get("trade_status")}
	if n.OutTradeNo == "" {
		problems = append(problems, "out_trade_no is required")
	}
	if !tradeNoRE.MatchString(n.TradeNo) {
		problems = append(problems, "trade_no must be 1 to 64 of [A-Za-z0-9_-]")
	}
	amount, err := ParseYuan(v.Get("total_amount"))
	if err != nil {
		problems = append(problems, err.Error())
	}
	n.AmountCents = amount
	if n.TradeStatus != TradeStatus {
		problems = append(problems, fmt.Sprintf("trade_status %q is not %s", n.TradeStatus, TradeStatus))
	}
	raw := v.Get("notify_time")
	if n.NotifyTime, err = time.Parse(TimeLayout, raw); err != nil {
		if n.NotifyTime, err = time.Parse(time.RFC3339, raw); err != nil {
			problems = append(problems, fmt.Sprintf("notify_time %q is not %q or RFC 3339", raw, TimeLayout))
		}
	}
	if len(problems) > 0 {
		return Notice{}, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return n, nil
}

// FormatYuan renders cents as yuan with two decimals: 9540 → "95.40".
func FormatYuan(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}

// ParseYuan reads "95.40" as 9540 cents: digits, a point and exactly two decimals, no sign.
func ParseYuan(s string) (int64, error) {
	if !amountRE.MatchString(s) {
		return 0, fmt.Errorf("total_amount %q is not yuan with two decimals (e.g. 95.40)", s)
	}
	whole, frac, _ := strings.Cut(s, ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("total_amount %q: %w", s, err)
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*100 + f, nil
}
