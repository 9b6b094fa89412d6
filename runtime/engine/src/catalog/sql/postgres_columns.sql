SELECT c.relname::text,
       c.relkind::text,
       a.attname::text,
       format_type(a.atttypid, a.atttypmod),
       t.typname::text,
       a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid),
       a.attidentity::text,
       a.attgenerated::text
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = coalesce($1::text, current_schema()) AND c.relkind IN ('r', 'p', 'v', 'm')
ORDER BY c.relname, a.attnum
