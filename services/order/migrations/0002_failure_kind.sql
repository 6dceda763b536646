-- Which kind of failure `failure_reason` describes (e.g. `out_of_stock`), a
-- small fixed set for metrics; '' when none (confirmed, cancelled, or failed
-- before this column existed).
ALTER TABLE orders ADD COLUMN failure_kind TEXT NOT NULL DEFAULT '';
