-- Undoes V2__customers (its indexes go with the table).
DROP TABLE customers;
