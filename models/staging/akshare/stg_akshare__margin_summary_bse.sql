-- BSE published margin totals, one row per trading day, in CNY and shares.
{{ stg_margin_summary_szse_like('stock_margin_bse', 'BSE', '1') }}
