-- Invoices of a customer and their line items.
CREATE TABLE invoices (
  id          INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers(id),
  number      TEXT NOT NULL UNIQUE,
  issued_at   DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  status      TEXT NOT NULL DEFAULT 'draft'
              CONSTRAINT invoices_status_check CHECK (status IN ('draft', 'issued', 'paid', 'void'))
);
CREATE INDEX invoices_customer_id_idx ON invoices(customer_id);

CREATE TABLE line_items (
  id               INTEGER PRIMARY KEY,
  invoice_id       INTEGER NOT NULL REFERENCES invoices(id),
  product_id       INTEGER NOT NULL REFERENCES products(id),
  quantity         INTEGER NOT NULL,
  unit_price_cents INTEGER NOT NULL
);
CREATE INDEX line_items_invoice_id_idx ON line_items(invoice_id);
CREATE INDEX line_items_product_id_idx ON line_items(product_id);
