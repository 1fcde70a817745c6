-- Deliveries change through the unit of work: load, decide, save over the version read. Two riders
-- picking one delivery both read version 1; the first save wins, the second is decided again on
-- the picked delivery and refused.
ALTER TABLE deliveries ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
