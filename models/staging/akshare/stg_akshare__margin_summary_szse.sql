-- SZSE published margin totals, one row per trading day. akshare returns them in
-- 亿 (1e8): converted here to CNY and shares.
{{ stg_margin_summary_szse_like('stock_margin_szse', 'SZSE', '1e8') }}
