-- Undoes V5__invoice_totals: the view, then the stored total.
DROP VIEW invoice_totals;
ALTER TABLE invoices DROP COLUMN total_cents;
