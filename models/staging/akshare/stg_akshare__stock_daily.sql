-- Unadjusted daily quotes per security (Sina), with float shares. Sina has no row for
-- suspension days: downstream joins take the last close on or before the day.
-- A BSE stock that switched to a 920xxx code is keyed by its new code on every day
-- (security_code_across_bse_switch). Its quotes may have been fetched under both Sina
-- symbols (bj83xxxx for the days its margin detail carried the old code, bj920xxx for
-- the later ones) with overlapping days: a day Sina serves under the new code is taken
-- from there, so no day is counted twice.

with

source as (

    select * from {{ source('raw', 'stock_zh_a_daily') }}

),

renamed as (

    select
        cast(trade_date as date) as trade_date,
        {{ security_code_across_bse_switch('right(trim(symbol), 6)') }} as security_code,
        {{ exchange_of_sina_symbol('symbol') }} as exchange,
        lower(trim(symbol)) as sina_symbol,
        cast(open as double) as open_cny,
        cast(high as double) as high_cny,
        cast(low as double) as low_cny,
        cast(close as double) as close_cny,
        cast(volume as double) as volume_shares,
        cast(amount as double) as amount_cny,
        cast(outstanding_share as double) as float_shares,
        cast(turnover as double) as turnover_ratio,
        _source as data_source,
        _fetched_at as fetched_at,

    from source

),

switched_days_under_new_code as (

    -- (the source again, not the CTE: DuckDB would materialize a CTE used twice)
    select distinct right(trim(symbol), 6) as security_code, cast(trade_date as date) as trade_date,
    from {{ source('raw', 'stock_zh_a_daily') }}
    where right(trim(symbol), 6) in (select security_code from {{ ref('bse_code_switch') }})

),

deduplicated as (

    select renamed.*,
    from renamed
    left join switched_days_under_new_code as under_new_code
        on right(renamed.sina_symbol, 6) <> renamed.security_code  -- a row under the old code
        and renamed.security_code = under_new_code.security_code
        and renamed.trade_date = under_new_code.trade_date
    where under_new_code.trade_date is null

)

select * from deduplicated
