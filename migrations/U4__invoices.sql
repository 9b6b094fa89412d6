-- Undoes V4__invoices: line items first, as they reference invoices.
DROP TABLE line_items;
DROP TABLE invoices;
