-- SZSE margin detail, one row per trading day and security, as published.
-- No date column at the source: trade_date is the trading day of the request.
-- No repayments; the short balance in CNY is published.
{{ stg_margin_detail_szse_like('stock_margin_detail_szse', 'SZSE') }}
