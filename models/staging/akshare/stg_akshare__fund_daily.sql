-- Daily bars of the ETFs and LOFs on the margin lists (Sina's fund history), one row per
-- fund and trading day. Sina publishes no unit count for a fund, so funds have no float
-- shares: their balance-to-float ratios stay empty. Volume is in 份 (fund units).
-- The same pattern as the stocks' bars (stg_akshare__stock_daily): staging_sina_daily_bars.sql.
{{ stg_sina_daily_bars('fund') }}
