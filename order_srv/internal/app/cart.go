package app

import (
	"context"

	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// PutCartItem puts num pieces of a goods in the user's cart (replacing what was there). The
// goods must exist in inventory. Errors: order.ErrInvalid, ErrGoodsNotFound, ErrUnavailable.
func (s *Service) PutCartItem(ctx context.Context, userID, goodsID int64, num int32, checked bool) (order.CartItem, error) {
	item, err := order.NewCartItem(userID, goodsID, num, checked)
	if err != nil {
		return order.CartItem{}, err
	}
	if err := s.d.Goods.CheckGoods(ctx, goodsID); err != nil {
		return order.CartItem{}, err
	}
	if err := s.d.Carts.PutCartItem(ctx, item, s.d.Now()); err != nil {
		return order.CartItem{}, err
	}
	return item, nil
}

// CartItems returns the user's cart.
func (s *Service) CartItems(ctx context.Context, userID int64) ([]order.CartItem, error) {
	if err := order.ValidateUserID(userID); err != nil {
		return nil, err
	}
	return s.d.Carts.CartItems(ctx, userID)
}

// DeleteCartItem removes a goods from the user's cart; removing an absent goods is fine.
func (s *Service) DeleteCartItem(ctx context.Context, userID, goodsID int64) error {
	if _, err := order.NewCartItem(userID, goodsID, 1, false); err != nil {
		return err
	}
	return s.d.Carts.DeleteCartItem(ctx, userID, goodsID)
}
