-- SQLite twin of order/00001_create_order_tables.sql: same tables, columns and constraints.
-- Text compares with SQLite's BINARY collation (case-sensitive, like ascii_bin and utf8mb4_bin);
-- times are text in SQLite's format, written by the service in UTC; ids are AUTOINCREMENT so an
-- id is never reused.

-- +goose Up
CREATE TABLE orders (
    id            INTEGER      NOT NULL PRIMARY KEY AUTOINCREMENT,
    order_sn      CHAR(32)     NOT NULL,
    user_id       BIGINT       NOT NULL,
    status        VARCHAR(16)  NOT NULL,
    total_cents   BIGINT       NOT NULL,
    address       VARCHAR(255) NOT NULL,
    signer_name   VARCHAR(64)  NOT NULL,
    signer_mobile VARCHAR(32)  NOT NULL,
    post          VARCHAR(255) NOT NULL DEFAULT '',
    created_at    DATETIME     NOT NULL,
    updated_at    DATETIME     NOT NULL,
    paid_at       DATETIME     NULL,
    closed_at     DATETIME     NULL,
    CONSTRAINT uk_orders_order_sn UNIQUE (order_sn),
    CONSTRAINT chk_orders_status CHECK (status IN ('WAIT_BUYER_PAY', 'TRADE_SUCCESS', 'TRADE_CLOSED')),
    CONSTRAINT chk_orders_total CHECK (total_cents >= 0)
);
CREATE INDEX idx_orders_user_id_id ON orders (user_id, id);

CREATE TABLE order_items (
    id          INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
    order_sn    CHAR(32) NOT NULL,
    goods_id    BIGINT   NOT NULL,
    num         INT      NOT NULL,
    price_cents BIGINT   NOT NULL,
    CONSTRAINT uk_order_items_order_sn_goods_id UNIQUE (order_sn, goods_id),
    CONSTRAINT chk_order_items_num CHECK (num > 0),
    CONSTRAINT chk_order_items_price CHECK (price_cents >= 0)
);

CREATE TABLE cart_items (
    user_id    BIGINT   NOT NULL,
    goods_id   BIGINT   NOT NULL,
    num        INT      NOT NULL,
    checked    BOOLEAN  NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    PRIMARY KEY (user_id, goods_id),
    CONSTRAINT chk_cart_items_num CHECK (num > 0)
);

-- The check-back barrier (see the MySQL twin). On SQLite transactions are serialised, so a
-- check-back simply runs before or after a local transaction, never in its middle.
CREATE TABLE tx_barriers (
    order_sn   CHAR(32)   NOT NULL PRIMARY KEY,
    op         VARCHAR(8) NOT NULL,
    created_at DATETIME   NOT NULL,
    CONSTRAINT chk_tx_barriers_op CHECK (op IN ('local', 'check'))
);

CREATE TABLE idempotency_keys (
    user_id      BIGINT       NOT NULL,
    idem_key     VARCHAR(128) NOT NULL,
    request_hash CHAR(64)     NOT NULL,
    order_sn     CHAR(32)     NOT NULL,
    outcome      VARCHAR(32)  NOT NULL DEFAULT '',
    created_at   DATETIME     NOT NULL,
    updated_at   DATETIME     NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE tx_barriers;
DROP TABLE cart_items;
DROP TABLE order_items;
DROP TABLE orders;
