package order

import "fmt"

// CartItem is one goods in a user's shopping cart. Checked items are the ones an order
// "from cart" buys.
type CartItem struct {
	UserID  int64
	GoodsID int64
	Num     int32
	Checked bool
}

// NewCartItem validates a cart entry, reporting every problem at once.
func NewCartItem(userID, goodsID int64, num int32, checked bool) (CartItem, error) {
	p := userProblems(userID)
	if goodsID <= 0 {
		p = append(p, "goods_id must be a positive integer")
	}
	if num <= 0 || num > MaxNumPerLine {
		p = append(p, fmt.Sprintf("num must be between 1 and %d", MaxNumPerLine))
	}
	if err := invalid(p); err != nil {
		return CartItem{}, err
	}
	return CartItem{UserID: userID, GoodsID: goodsID, Num: num, Checked: checked}, nil
}
