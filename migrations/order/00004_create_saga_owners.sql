-- Saga owners: which order_srv instance runs the local transaction of an order, and until when
-- (start + the saga timeout). Written in its own autocommitted statement before the stock is
-- sold, so that a check-back on another instance sees it and answers "unknown" instead of
-- fencing a slow but healthy saga; once the deadline has passed the barrier decides as before.
-- Numbered 00004: 00003 is taken by another branch (payments). Rows past their deadline are
-- deleted by the reconciler.

-- +goose Up
CREATE TABLE saga_owners (
    order_sn CHAR(32)    CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    owner    VARCHAR(64) NOT NULL,
    deadline DATETIME(6) NOT NULL,
    PRIMARY KEY (order_sn),
    KEY idx_saga_owners_deadline (deadline)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE saga_owners;
