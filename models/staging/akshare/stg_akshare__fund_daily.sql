-- Daily bars of the ETFs and LOFs on the margin lists (Sina's fund history), one row per
-- fund and trading day. Sina publishes no unit count for a fund, so funds have no float
-- shares: their balance-to-float ratios stay empty. Volume is in 份 (fund units).

with

source as (

    select * from {{ source('raw', 'fund_etf_hist_sina') }}

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
        cast(volume as double) as volume_units,
        _source as data_source,
        _fetched_at as fetched_at,

    from source

)

select * from renamed
