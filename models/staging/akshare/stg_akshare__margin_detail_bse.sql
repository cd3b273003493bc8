-- BSE margin detail, one row per trading day and security, as published (same shape
-- as SZSE's: no date column, no repayments, short balance in CNY).
{{ stg_margin_detail_szse_like('stock_margin_detail_bse', 'BSE') }}
