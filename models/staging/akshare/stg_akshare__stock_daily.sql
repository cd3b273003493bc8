-- Unadjusted daily quotes per security (Sina), with float shares. Sina has no row for
-- suspension days: downstream joins take the last close on or before the day.

with

source as (

    select * from {{ source('raw', 'stock_zh_a_daily') }}

),

renamed as (

    select
        cast(trade_date as date) as trade_date,
        right(trim(symbol), 6) as security_code,
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

)

select * from renamed
