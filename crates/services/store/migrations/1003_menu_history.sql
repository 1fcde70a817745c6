-- Every published revision of a store's menu and when it was published, so an arriving order can
-- be checked against the menu as it was when it was priced (the order service prices from a
-- replica, which lags). Only a few rows per store change per day; old ones are small.
CREATE TABLE menu_history (
    store_id     TEXT   NOT NULL,
    revision     BIGINT NOT NULL,
    published_at BIGINT NOT NULL,
    menu         TEXT   NOT NULL,
    PRIMARY KEY (store_id, revision)
);
CREATE INDEX menu_history_by_time ON menu_history (store_id, published_at);
