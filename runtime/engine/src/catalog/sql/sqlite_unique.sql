SELECT o.name, i.name, c.name
FROM sqlite_schema o, pragma_index_list(o.name) i, pragma_index_info(i.name) c
WHERE o.type = 'table' AND o.name NOT LIKE 'sqlite_%' AND i."unique" = 1 AND i.origin IN ('u', 'pk')
ORDER BY o.name, i.name, c.seqno
