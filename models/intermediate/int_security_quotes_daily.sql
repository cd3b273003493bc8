-- Every security's daily quote (close and float shares), one row per security and
-- trading day, from whichever source has it: Sina's daily history where it was fetched
-- (backfills), else the post-close snapshot (the daily path: one call for the market).
-- Both give the same close; Sina wins where both exist, so a backfill over snapshot days
-- changes nothing but the provenance. A close Eastmoney's snapshot refused comes from
-- Sina's snapshot, which carries no float market cap: its float shares are the stock's
-- last known ones (an earlier quote of either source), so they miss a change of that very
-- day (an unlock, a bonus issue) until a backfill over it fetches Sina's history. The ETFs
-- and LOFs on the margin lists take their closes from Sina's fund history, with no float
-- shares (Sina publishes no unit count).

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

sina_snapshot as (

    -- only the closes neither Sina's history nor Eastmoney's snapshot holds (the staging
    -- views, not the CTEs above, probed on the days Sina's snapshot has: as above)
    select * from {{ ref('stg_akshare__stock_spot_sina') }}
    anti join (
        select security_code, trade_date, from {{ ref('stg_akshare__stock_spot') }}
        semi join (select distinct trade_date from {{ ref('stg_akshare__stock_spot_sina') }}) as days
            using (trade_date)
    ) as taken using (security_code, trade_date)
    anti join (
        select security_code, trade_date, from {{ ref('stg_akshare__stock_daily') }}
        semi join (select distinct trade_date from {{ ref('stg_akshare__stock_spot_sina') }}) as days
            using (trade_date)
    ) as fetched using (security_code, trade_date)

),

known_float_shares as (

    -- the earlier quotes of the stocks Sina's snapshot quoted (none on the days Eastmoney's
    -- snapshot answered: the staging views are then scanned for nothing)
    select security_code, trade_date, float_shares
    from {{ ref('stg_akshare__stock_daily') }}
    semi join (select distinct security_code from sina_snapshot) as quoted using (security_code)
    where float_shares > 0
    union all
    select security_code, trade_date, float_shares
    from {{ ref('stg_akshare__stock_spot') }}
    semi join (select distinct security_code from sina_snapshot) as quoted using (security_code)
    where float_shares > 0

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
        sina.trade_date, sina.security_code, sina.exchange, sina.close_cny, known.float_shares,
        sina.volume_shares, sina.amount_cny, sina.volume_shares / known.float_shares as turnover_ratio,
        'stock_zh_a_spot' as quote_source, sina.data_source, sina.fetched_at,
    from sina_snapshot as sina
    asof left join known_float_shares as known
        on known.security_code = sina.security_code and known.trade_date < sina.trade_date

    union all

    select
        trade_date, security_code, exchange, close_cny, cast(null as double) as float_shares,
        volume_units as volume_shares, cast(null as double) as amount_cny,
        cast(null as double) as turnover_ratio, 'fund_etf_hist_sina' as quote_source,
        data_source, fetched_at,
    from funds

)

select * from unioned
