package order_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func TestStatus_CanBecome_followsTheTransitionTable(t *testing.T) {
	t.Parallel()
	all := []order.Status{order.StatusWaitBuyerPay, order.StatusTradeSuccess, order.StatusTradeClosed}
	allowed := map[[2]order.Status]bool{
		{order.StatusWaitBuyerPay, order.StatusTradeSuccess}: true,
		{order.StatusWaitBuyerPay, order.StatusTradeClosed}:  true,
	}
	for _, from := range all {
		for _, to := range all {
			if got, want := from.CanBecome(to), allowed[[2]order.Status{from, to}]; got != want {
				t.Errorf("%s.CanBecome(%s) = %v, want %v", from, to, got, want)
			}
		}
	}
	if order.StatusWaitBuyerPay.Final() || !order.StatusTradeSuccess.Final() || !order.StatusTradeClosed.Final() {
		t.Error("only TRADE_SUCCESS and TRADE_CLOSED are final")
	}
}

func TestParseStatus_rejectsUnknownNames(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"WAIT_BUYER_PAY", "TRADE_SUCCESS", "TRADE_CLOSED"} {
		if got, err := order.ParseStatus(s); err != nil || string(got) != s {
			t.Errorf("ParseStatus(%q) = %q, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "trade_success", "PAYING", "TRADE_FINISHED"} {
		if _, err := order.ParseStatus(s); !errors.Is(err, order.ErrInvalid) {
			t.Errorf("ParseStatus(%q) error = %v, want ErrInvalid", s, err)
		}
	}
}

func newOrder(t *testing.T) order.Order {
	t.Helper()
	sn, err := order.NewSN(t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	o, err := order.New(sn, 7, validShipping(), []order.Item{{GoodsID: 1, Num: 2, PriceCents: 1999}, {GoodsID: 2, Num: 1, PriceCents: 5}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func validShipping() order.Shipping {
	return order.Shipping{Address: "1 Main St", SignerName: "Ann", SignerMobile: "+86 138-0000-0000", Post: "ring twice"}
}

func TestNew_computesTheTotalInCents_andWaitsForPayment(t *testing.T) {
	t.Parallel()
	o := newOrder(t)
	if o.TotalCents != 2*1999+5 {
		t.Errorf("TotalCents = %d, want %d", o.TotalCents, 2*1999+5)
	}
	if o.Status != order.StatusWaitBuyerPay || o.PaidAt != nil || o.ClosedAt != nil {
		t.Errorf("new order = %+v, want WAIT_BUYER_PAY without paid/closed times", o)
	}
}

func TestOrder_PayAndClose_transitions(t *testing.T) {
	t.Parallel()
	later := t0.Add(time.Minute)
	tests := []struct {
		name    string
		from    order.Status
		act     func(*order.Order) error
		want    order.Status
		wantErr error
	}{
		{"pay an unpaid order", order.StatusWaitBuyerPay, func(o *order.Order) error { return o.Pay(later) }, order.StatusTradeSuccess, nil},
		{"pay a paid order again", order.StatusTradeSuccess, func(o *order.Order) error { return o.Pay(later) }, order.StatusTradeSuccess, nil},
		{"pay a closed order", order.StatusTradeClosed, func(o *order.Order) error { return o.Pay(later) }, order.StatusTradeClosed, order.ErrOrderClosed},
		{"close an unpaid order", order.StatusWaitBuyerPay, func(o *order.Order) error { return o.Close(later) }, order.StatusTradeClosed, nil},
		{"close a closed order again", order.StatusTradeClosed, func(o *order.Order) error { return o.Close(later) }, order.StatusTradeClosed, nil},
		{"close a paid order", order.StatusTradeSuccess, func(o *order.Order) error { return o.Close(later) }, order.StatusTradeSuccess, order.ErrOrderPaid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := newOrder(t)
			o.Status = tt.from
			err := tt.act(&o)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if o.Status != tt.want {
				t.Errorf("status = %s, want %s", o.Status, tt.want)
			}
			if tt.from == order.StatusWaitBuyerPay {
				if o.Status == order.StatusTradeSuccess && (o.PaidAt == nil || !o.PaidAt.Equal(later)) {
					t.Errorf("PaidAt = %v, want %v", o.PaidAt, later)
				}
				if o.Status == order.StatusTradeClosed && (o.ClosedAt == nil || !o.ClosedAt.Equal(later)) {
					t.Errorf("ClosedAt = %v, want %v", o.ClosedAt, later)
				}
			} else if !o.UpdatedAt.Equal(t0) {
				t.Errorf("a no-op or refused transition changed UpdatedAt to %v", o.UpdatedAt)
			}
		})
	}
}

func TestValidateRequest_reportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	err := order.ValidateRequest(0, order.Shipping{SignerMobile: "call me"}, []order.Line{{GoodsID: 0, Num: 0}, {GoodsID: 3, Num: 1}, {GoodsID: 3, Num: 20000}})
	if !errors.Is(err, order.ErrInvalid) {
		t.Fatalf("error = %v, want ErrInvalid", err)
	}
	for _, want := range []string{"user_id", "address is required", "signer_name is required", "signer_mobile may hold only",
		"items[0].goods_id", "items[0].num", "items[2].goods_id 3 appears twice", "items[2].num"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestValidateRequest_acceptsAGoodRequest_andRejectsEdgeCases(t *testing.T) {
	t.Parallel()
	ok := []order.Line{{GoodsID: 1, Num: 1}, {GoodsID: 2, Num: order.MaxNumPerLine}}
	if err := order.ValidateRequest(1, validShipping(), ok); err != nil {
		t.Fatalf("valid request: %v", err)
	}
	tooMany := make([]order.Line, order.MaxLines+1)
	for i := range tooMany {
		tooMany[i] = order.Line{GoodsID: int64(i + 1), Num: 1}
	}
	long := validShipping()
	long.Address = strings.Repeat("街", 256)
	bad := validShipping()
	bad.Post = string([]byte{0xff})
	for name, err := range map[string]error{
		"no items":       order.ValidateRequest(1, validShipping(), nil),
		"too many items": order.ValidateRequest(1, validShipping(), tooMany),
		"long address":   order.ValidateRequest(1, long, ok),
		"invalid utf-8":  order.ValidateRequest(1, bad, ok),
	} {
		if !errors.Is(err, order.ErrInvalid) {
			t.Errorf("%s: error = %v, want ErrInvalid", name, err)
		}
	}
}

func TestPriceLines_acceptsOnlyAnExactAnswer(t *testing.T) {
	t.Parallel()
	lines := []order.Line{{GoodsID: 1, Num: 2}, {GoodsID: 2, Num: 1}}
	got, err := order.PriceLines(lines, []order.Item{{GoodsID: 2, Num: 1, PriceCents: 5}, {GoodsID: 1, Num: 2, PriceCents: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].GoodsID != 1 || got[0].PriceCents != 100 || got[1].GoodsID != 2 {
		t.Errorf("PriceLines = %+v, want the lines' order with prices", got)
	}
	for name, priced := range map[string][]order.Item{
		"missing":        {{GoodsID: 1, Num: 2, PriceCents: 1}},
		"other goods":    {{GoodsID: 1, Num: 2, PriceCents: 1}, {GoodsID: 3, Num: 1, PriceCents: 1}},
		"other number":   {{GoodsID: 1, Num: 1, PriceCents: 1}, {GoodsID: 2, Num: 1, PriceCents: 1}},
		"negative price": {{GoodsID: 1, Num: 2, PriceCents: -1}, {GoodsID: 2, Num: 1, PriceCents: 1}},
	} {
		if _, err := order.PriceLines(lines, priced); !errors.Is(err, order.ErrPriceMismatch) {
			t.Errorf("%s: error = %v, want ErrPriceMismatch", name, err)
		}
	}
}

func TestNewSN_isFixedWidthDigits_startingWithTheUTCTime(t *testing.T) {
	t.Parallel()
	local := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CST", 8*3600))
	seen := map[order.SN]bool{}
	for range 1000 {
		sn, err := order.NewSN(local, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(sn) != order.SNLen || !strings.HasPrefix(string(sn), "20260101190405") {
			t.Fatalf("sn %q: want %d digits starting with the UTC time 20260101190405", sn, order.SNLen)
		}
		if _, err := order.ParseSN(string(sn)); err != nil {
			t.Fatalf("ParseSN(%q): %v", sn, err)
		}
		if seen[sn] {
			t.Fatalf("duplicate order number %s", sn)
		}
		seen[sn] = true
	}
	// A reader of zeros yields the smallest suffix, still zero-padded to full width.
	sn, err := order.NewSN(local, bytes.NewReader(make([]byte, 64)))
	if err != nil || sn != "20260101190405000000000000000000" {
		t.Errorf("NewSN(zeros) = %q, %v", sn, err)
	}
}

func TestParseSN_rejectsMalformedNumbers(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "2026", "2026010119040500000000000000000x", "20261301190405000000000000000000", "202601011904050000000000000000000"} {
		if _, err := order.ParseSN(s); !errors.Is(err, order.ErrInvalid) {
			t.Errorf("ParseSN(%q) error = %v, want ErrInvalid", s, err)
		}
	}
}

func TestNewCartItem_validates(t *testing.T) {
	t.Parallel()
	if _, err := order.NewCartItem(1, 2, 3, true); err != nil {
		t.Fatal(err)
	}
	_, err := order.NewCartItem(0, 0, 0, false)
	if !errors.Is(err, order.ErrInvalid) || !strings.Contains(err.Error(), "user_id") || !strings.Contains(err.Error(), "goods_id") || !strings.Contains(err.Error(), "num") {
		t.Errorf("error = %v, want every problem", err)
	}
}
