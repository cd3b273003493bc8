-- BSE published margin totals, one row per trading day. akshare returns BSE's *Round
-- fields, in 万 (1e4): converted here to CNY and shares.
{{ stg_margin_summary_szse_like('stock_margin_bse', 'BSE', '1e4') }}
