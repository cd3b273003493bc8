-- Every security's daily quote (close and float shares), one row per security and
-- trading day, from whichever source has it: Sina's daily history where it was fetched
-- (backfills), else the post-close snapshot (the daily path: one call for the market).
-- Both give the same close; Sina wins where both exist, so a backfill over snapshot days
-- changes nothing but the provenance. The ETFs and LOFs on the margin lists take their
-- closes from Sina's fund history, with no float shares (Sina publishes no unit count).

with

daily as (

    select * from {{ ref('stg_akshare__stock_daily') }}

),

snapshot as (

    select * from {{ ref('stg_akshare__stock_spot') }}

),

funds as (

    select * from {{ ref('stg_akshare__fund_daily') }}

),

daily_on_snapshot_days as (

    -- the few days a snapshot exists for: the anti join below then probes only those.
    -- (The staging view again, not the CTE: DuckDB materializes a CTE used twice, which
    -- would copy all of Sina's history on every query of a one-day window.)
    select security_code, trade_date,
    from {{ ref('stg_akshare__stock_daily') }}
    semi join (select distinct trade_date from snapshot) as days using (trade_date)

),

unioned as (

    select
        trade_date, security_code, exchange, close_cny, float_shares, volume_shares, amount_cny,
        turnover_ratio, 'stock_zh_a_daily' as quote_source, data_source, fetched_at,
    from daily

    union all

    select
        trade_date, security_code, exchange, close_cny, float_shares, volume_shares, amount_cny,
        turnover_ratio, 'stock_zh_a_spot_em' as quote_source, data_source, fetched_at,
    from snapshot
    anti join daily_on_snapshot_days using (security_code, trade_date)

    union all

    select
        trade_date, security_code, exchange, close_cny, cast(null as double) as float_shares,
        volume_units as volume_shares, cast(null as double) as amount_cny,
        cast(null as double) as turnover_ratio, 'fund_etf_hist_sina' as quote_source,
        data_source, fetched_at,
    from funds

)

select * from unioned
