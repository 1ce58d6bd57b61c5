package inventory

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNewGoods_validates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		id        int64
		goodsName string
		price     int64
		stock     int64
		problems  []string // substrings, one per expected problem; none means valid
	}{
		{name: "valid", id: 1, goodsName: "  Tea  ", price: 0, stock: 0},
		{name: "max values", id: 1, goodsName: strings.Repeat("é", MaxNameLen), price: MaxPriceCents, stock: MaxStock},
		{name: "everything wrong at once", id: 0, goodsName: " ", price: -1, stock: -1,
			problems: []string{"id must be positive", "name must not be empty", "price_cents", "stock"}},
		{name: "name too long", id: 1, goodsName: strings.Repeat("x", MaxNameLen+1), problems: []string{"at most 100 characters"}},
		{name: "invalid utf-8", id: 1, goodsName: "a\xffb", problems: []string{"UTF-8"}},
		{name: "price too high", id: 1, goodsName: "x", price: MaxPriceCents + 1, problems: []string{"price_cents"}},
		{name: "stock too high", id: 1, goodsName: "x", stock: MaxStock + 1, problems: []string{"stock"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, err := NewGoods(tt.id, tt.goodsName, tt.price, tt.stock)
			if len(tt.problems) == 0 {
				if err != nil {
					t.Fatalf("NewGoods: %v", err)
				}
				if g.Name != strings.TrimSpace(tt.goodsName) {
					t.Errorf("name %q, want it trimmed", g.Name)
				}
				return
			}
			assertProblems(t, err, tt.problems)
		})
	}
}

func TestGoodsValidate_rejectsUntrimmedName(t *testing.T) {
	t.Parallel()
	err := Goods{ID: 1, Name: " Tea"}.Validate()
	assertProblems(t, err, []string{"white space"})
}

func TestSellRequestNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		req      SellRequest
		want     []Item
		problems []string
	}{
		{name: "sorts items by goods id",
			req:  SellRequest{OrderSN: "A-1", Items: []Item{{3, 1}, {1, 2}, {2, 3}}},
			want: []Item{{1, 2}, {2, 3}, {3, 1}}},
		{name: "empty", req: SellRequest{OrderSN: "A-1"}, problems: []string{"items must not be empty"}},
		{name: "bad order sn and items",
			req:      SellRequest{OrderSN: "a b", Items: []Item{{0, 1}, {2, 0}, {3, MaxItemNum + 1}}},
			problems: []string{"order_sn may only contain", "goods_id 0 must be positive", "num of goods 2", "num of goods 3"}},
		{name: "duplicate goods reported once",
			req:      SellRequest{OrderSN: "A-1", Items: []Item{{5, 1}, {5, 2}, {5, 3}}},
			problems: []string{"goods 5 is listed more than once"}},
		{name: "too many items",
			req:      SellRequest{OrderSN: "A-1", Items: manyItems(MaxItemsPerSell + 1)},
			problems: []string{"at most 100 items"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := slices.Clone(tt.req.Items)
			got, err := tt.req.normalize()
			if !slices.Equal(tt.req.Items, before) {
				t.Errorf("normalize changed its receiver's items: %v", tt.req.Items)
			}
			if len(tt.problems) > 0 {
				assertProblems(t, err, tt.problems)
				return
			}
			if err != nil {
				t.Fatalf("normalize: %v", err)
			}
			if !slices.Equal(got.Items, tt.want) {
				t.Errorf("items %v, want %v", got.Items, tt.want)
			}
		})
	}
}

func TestValidateOrderSN(t *testing.T) {
	t.Parallel()
	valid := []string{"a", "20260101123000123456-42", "ABC_def-09", strings.Repeat("9", MaxOrderSNLen)}
	for _, sn := range valid {
		if err := ValidateOrderSN(sn); err != nil {
			t.Errorf("ValidateOrderSN(%q) = %v, want nil", sn, err)
		}
	}
	invalid := []string{"", " ", "a b", "a/b", "ä", "a\x00", strings.Repeat("9", MaxOrderSNLen+1)}
	for _, sn := range invalid {
		if err := ValidateOrderSN(sn); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("ValidateOrderSN(%q) = %v, want ErrInvalidInput", sn, err)
		}
	}
}

func TestSellDetailSameItems(t *testing.T) {
	t.Parallel()
	d := SellDetail{Items: []SoldItem{{GoodsID: 1, Num: 2, PriceCents: 5}, {GoodsID: 3, Num: 1}}}
	if !d.sameItems([]Item{{1, 2}, {3, 1}}) {
		t.Error("same items: got false")
	}
	for _, items := range [][]Item{{{1, 2}}, {{1, 2}, {3, 2}}, {{1, 2}, {4, 1}}, {{1, 2}, {3, 1}, {4, 1}}} {
		if d.sameItems(items) {
			t.Errorf("sameItems(%v) = true, want false", items)
		}
	}
}

func TestEnumsSpellTheAPIValues(t *testing.T) {
	t.Parallel()
	for v, want := range map[interface{ String() string }]string{
		StatusDeducted: "deducted", StatusReturned: "returned", SellStatus(7): "SellStatus(7)",
		Returned: "returned", AlreadyReturned: "already_returned", NotSold: "not_sold",
	} {
		if got := v.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", v, got, want)
		}
	}
	if SellStatus(0).Valid() || SellStatus(3).Valid() || !StatusDeducted.Valid() || !StatusReturned.Valid() {
		t.Error("SellStatus.Valid accepts exactly 1 and 2")
	}
}

func TestErrorsNameTheirData(t *testing.T) {
	t.Parallel()
	short := &InsufficientStockError{Items: []Shortage{{GoodsID: 7, Requested: 3, Available: 1}}}
	if !errors.Is(short, ErrInsufficientStock) || !strings.Contains(short.Error(), "goods 7 (requested 3, available 1)") {
		t.Errorf("InsufficientStockError: %v", short)
	}
	missing := &GoodsNotFoundError{IDs: []int64{4, 9}}
	if !errors.Is(missing, ErrGoodsNotFound) || !strings.Contains(missing.Error(), "goods 4, 9") {
		t.Errorf("GoodsNotFoundError: %v", missing)
	}
}

func TestValidateIDs_dropsDuplicatesAndKeepsOrder(t *testing.T) {
	t.Parallel()
	got, err := validateIDs([]int64{3, 1, 3, 2})
	if err != nil || !slices.Equal(got, []int64{3, 1, 2}) {
		t.Errorf("validateIDs = %v, %v", got, err)
	}
	_, err = validateIDs(nil)
	assertProblems(t, err, []string{"ids must not be empty"})
	_, err = validateIDs(make([]int64, 1))
	assertProblems(t, err, []string{"id 0 must be positive"})
	ids := make([]int64, MaxGoodsPerQuery+1)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	_, err = validateIDs(ids)
	assertProblems(t, err, []string{"at most 100 ids"})
}

func manyItems(n int) []Item {
	items := make([]Item, n)
	for i := range items {
		items[i] = Item{GoodsID: int64(i + 1), Num: 1}
	}
	return items
}

// assertProblems checks that err is a *ValidationError with exactly one problem per substring.
func assertProblems(t *testing.T, err error, want []string) {
	t.Helper()
	var v *ValidationError
	if !errors.As(err, &v) || !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("error %v, want a *ValidationError", err)
	}
	if len(v.Problems) != len(want) {
		t.Fatalf("problems %q, want %d matching %q", v.Problems, len(want), want)
	}
	for _, w := range want {
		if !slices.ContainsFunc(v.Problems, func(p string) bool { return strings.Contains(p, w) }) {
			t.Errorf("problems %q lack %q", v.Problems, w)
		}
	}
}
