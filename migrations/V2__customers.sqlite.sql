-- Customers reference their shared contact rows.
CREATE TABLE customers (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  email_id   INTEGER NOT NULL REFERENCES emails(id),
  phone_id   INTEGER REFERENCES phones(id),
  address_id INTEGER REFERENCES addresses(id),
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX customers_email_id_idx   ON customers(email_id);
CREATE INDEX customers_phone_id_idx   ON customers(phone_id);
CREATE INDEX customers_address_id_idx ON customers(address_id);
