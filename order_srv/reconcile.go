package main

import (
	"fmt"
	"time"

	"github.com/shopsaga/shopsaga/order_srv/internal/app"
	"github.com/shopsaga/shopsaga/order_srv/internal/config"
	"github.com/shopsaga/shopsaga/order_srv/internal/metrics"
	"github.com/shopsaga/shopsaga/order_srv/internal/mq"
)

// newReconciler builds the reconciler of last resort from the configuration. The payment
// deadline is the delay of ORDER_PAY_TIMEOUT_LEVEL in RocketMQ's default table: a broker with
// shorter levels (the demo's) only makes the reconciler later than the timeout, never earlier.
func newReconciler(cfg config.Config, svc *app.Service, store app.ReconcileStore, sells app.DeductedSells, heal *metrics.Heal) (*app.Reconciler, error) {
	payTimeout, err := time.ParseDuration(mq.DelayLevels[cfg.PayTimeoutLevel-1])
	if err != nil {
		return nil, fmt.Errorf("pay timeout of level %d: %w", cfg.PayTimeoutLevel, err)
	}
	return app.NewReconciler(svc, store, sells, heal, app.ReconcileOptions{
		Interval: cfg.ReconcileInterval, PayTimeout: payTimeout, Grace: cfg.ReconcileGrace,
		SellAge: cfg.ReconcileSellAge, Lookback: cfg.ReconcileLookback,
	})
}
