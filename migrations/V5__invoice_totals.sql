-- The stored total of a finalized invoice, and a read-only view of every invoice's computed total.
ALTER TABLE invoices ADD COLUMN total_cents INTEGER;

CREATE VIEW invoice_totals AS
SELECT i.id                                              AS invoice_id,
       i.customer_id                                     AS customer_id,
       COUNT(li.id)                                      AS line_count,
       COALESCE(SUM(li.quantity * li.unit_price_cents), 0) AS total_cents
FROM invoices i
LEFT JOIN line_items li ON li.invoice_id = i.id
GROUP BY i.id, i.customer_id;
