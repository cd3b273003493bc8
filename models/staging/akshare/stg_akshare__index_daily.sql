-- Spot index daily bars (Sina) for the four CFFEX equity-index futures: CSI 300 (IF),
-- SSE 50 (IH), CSI 500 (IC) and CSI 1000 (IM). The mapping is the one in
-- margin_wh.sources.datasets.SPOT_INDEX_SYMBOLS.

with

source as (

    select * from {{ source('raw', 'stock_zh_index_daily') }}

),

renamed as (

    select
        cast(trade_date as date) as trade_date,
        lower(trim(symbol)) as index_symbol,
        right(trim(symbol), 6) as index_code,
        case lower(trim(symbol))
            when 'sh000300' then 'IF'
            when 'sh000016' then 'IH'
            when 'sh000905' then 'IC'
            when 'sh000852' then 'IM'
        end as futures_variety,
        cast(open as double) as open_points,
        cast(high as double) as high_points,
        cast(low as double) as low_points,
        cast(close as double) as close_points,
        cast(volume as double) as volume_shares,
        _source as data_source,
        _fetched_at as fetched_at,

    from source

)

select * from renamed
