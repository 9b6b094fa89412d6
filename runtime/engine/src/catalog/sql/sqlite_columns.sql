SELECT o.name, c.name, c.type, c."notnull", c.dflt_value, c.pk, c.hidden
FROM sqlite_schema o, pragma_table_xinfo(o.name) c
WHERE o.type IN ('table', 'view') AND o.name NOT LIKE 'sqlite_%'
ORDER BY o.name, c.cid
