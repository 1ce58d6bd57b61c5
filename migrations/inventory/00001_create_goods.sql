-- Goods: what the shop sells and how many are left. The id is chosen by the caller
-- (PUT /v1/goods/{id}), so there is no AUTO_INCREMENT. Money is integer cents.
-- CHECK (stock >= 0) is a backstop: sells deduct with a conditional UPDATE and never rely on it.

-- +goose Up
CREATE TABLE goods (
    id          BIGINT       NOT NULL,
    name        VARCHAR(100) NOT NULL,
    price_cents BIGINT       NOT NULL,
    stock       BIGINT       NOT NULL,
    created_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    CONSTRAINT goods_id_positive CHECK (id > 0),
    CONSTRAINT goods_price_not_negative CHECK (price_cents >= 0),
    CONSTRAINT goods_stock_not_negative CHECK (stock >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE goods;
