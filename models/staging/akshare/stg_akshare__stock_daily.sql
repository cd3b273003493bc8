-- Unadjusted daily quotes per security (Sina), with float shares. Sina has no row for
-- suspension days: downstream joins take the last close on or before the day. A BSE
-- stock that switched to a 920xxx code is keyed by its new code on every day.
-- The same pattern as the funds' bars (stg_akshare__fund_daily): staging_sina_daily_bars.sql.
{{ stg_sina_daily_bars('stock') }}
