-- SZSE's margin-eligible list (标的证券信息), one row per trading day and listed security.
-- No date column at the source: trade_date is the trading day of the request.
{{ stg_margin_eligibility('stock_margin_underlying_info_szse', 'SZSE') }}
