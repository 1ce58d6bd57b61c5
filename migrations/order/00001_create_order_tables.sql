-- order_srv schema: orders, their items, carts, the check-back barrier and idempotency keys.
-- Money is integer cents. order_sn is a 32-digit number (14-digit UTC timestamp + 18 random
-- digits, see order_srv/internal/order/sn.go); it is also the key of the saga's messages.

-- +goose Up
CREATE TABLE orders (
    id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    order_sn      CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id       BIGINT          NOT NULL,
    status        VARCHAR(16)     NOT NULL,
    total_cents   BIGINT          NOT NULL,
    address       VARCHAR(255)    NOT NULL,
    signer_name   VARCHAR(64)     NOT NULL,
    signer_mobile VARCHAR(32)     NOT NULL,
    post          VARCHAR(255)    NOT NULL DEFAULT '',
    created_at    DATETIME(6)     NOT NULL,
    updated_at    DATETIME(6)     NOT NULL,
    paid_at       DATETIME(6)     NULL,
    closed_at     DATETIME(6)     NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uk_orders_order_sn (order_sn),
    KEY idx_orders_user_id_id (user_id, id),
    CONSTRAINT chk_orders_status CHECK (status IN ('WAIT_BUYER_PAY', 'TRADE_SUCCESS', 'TRADE_CLOSED')),
    CONSTRAINT chk_orders_total CHECK (total_cents >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE order_items (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    order_sn    CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    goods_id    BIGINT          NOT NULL,
    num         INT             NOT NULL,
    price_cents BIGINT          NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uk_order_items_order_sn_goods_id (order_sn, goods_id),
    CONSTRAINT chk_order_items_num CHECK (num > 0),
    CONSTRAINT chk_order_items_price CHECK (price_cents >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE cart_items (
    user_id    BIGINT      NOT NULL,
    goods_id   BIGINT      NOT NULL,
    num        INT         NOT NULL,
    checked    BOOLEAN     NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (user_id, goods_id),
    CONSTRAINT chk_cart_items_num CHECK (num > 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- The check-back barrier: whoever inserts the row for an order_sn first decides the fate of its
-- half message. 'local' = the local transaction committed the order; 'check' = a check-back found
-- no order and answered "return the stock", so no local transaction may commit any more.
CREATE TABLE tx_barriers (
    order_sn   CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    op         VARCHAR(8)  NOT NULL,
    created_at DATETIME(6) NOT NULL,
    PRIMARY KEY (order_sn),
    CONSTRAINT chk_tx_barriers_op CHECK (op IN ('local', 'check'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Idempotency-Key of POST /v1/orders, scoped per user. outcome '' = attempt in progress.
CREATE TABLE idempotency_keys (
    user_id      BIGINT       NOT NULL,
    idem_key     VARCHAR(128) NOT NULL,
    request_hash CHAR(64)     NOT NULL,
    order_sn     CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    outcome      VARCHAR(32)  NOT NULL DEFAULT '',
    created_at   DATETIME(6)  NOT NULL,
    updated_at   DATETIME(6)  NOT NULL,
    PRIMARY KEY (user_id, idem_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE tx_barriers;
DROP TABLE cart_items;
DROP TABLE order_items;
DROP TABLE orders;
