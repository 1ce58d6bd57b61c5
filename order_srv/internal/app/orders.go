package app

import (
	"context"
	"fmt"

	"github.com/shopsaga/shopsaga/order_srv/internal/order"
)

// MaxPageSize bounds a page of a listing.
const MaxPageSize = 100

// Order returns order sn. Errors: order.ErrInvalid, order.ErrNotFound.
func (s *Service) Order(ctx context.Context, sn string) (order.Order, error) {
	n, err := order.ParseSN(sn)
	if err != nil {
		return order.Order{}, err
	}
	return s.d.Orders.Order(ctx, n)
}

// OrdersOfUser returns a page of the user's orders, newest first, and how many the user has.
func (s *Service) OrdersOfUser(ctx context.Context, userID int64, page Page) ([]order.Order, int64, error) {
	if err := order.ValidateUserID(userID); err != nil {
		return nil, 0, err
	}
	if page.Number < 1 || page.Size < 1 || page.Size > MaxPageSize {
		return nil, 0, fmt.Errorf("%w: page must be ≥ 1 and page_size between 1 and %d", order.ErrInvalid, MaxPageSize)
	}
	return s.d.Orders.OrdersOfUser(ctx, userID, page)
}

// Pay records the (simulated) payment of order sn and returns the paid order. Paying twice is
// fine; paying a closed order is order.ErrOrderClosed.
func (s *Service) Pay(ctx context.Context, sn string) (order.Order, error) {
	n, err := order.ParseSN(sn)
	if err != nil {
		return order.Order{}, err
	}
	paid := false
	o, err := s.d.Orders.UpdateOrder(ctx, n, func(o *order.Order) error {
		open := o.Status == order.StatusWaitBuyerPay
		if err := o.Pay(s.d.Now()); err != nil {
			return err
		}
		paid = open // assigned, not accumulated: the transaction may run again
		return nil
	})
	if err == nil && paid {
		s.d.Metrics.OrderPaid()
	}
	return o, err
}
