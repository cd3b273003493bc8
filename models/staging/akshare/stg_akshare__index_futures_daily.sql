-- CFFEX equity-index futures daily bars, one row per trading day and contract.
-- CFFEX's daily file (futures_hist_daily_cffex) also lists bond futures (T, TF, TS, TL):
-- only IF, IH, IC and IM are kept. Turnover is published in 万元 (1e4 CNY).

with

source as (

    select * from {{ source('raw', 'futures_hist_daily_cffex') }}

),

renamed as (

    select
        cast(trade_date as date) as trade_date,
        upper(trim(symbol)) as contract,
        upper(coalesce(
            nullif(trim(variety), ''),
            regexp_extract(trim(symbol), '^[A-Za-z]+')
        )) as variety,
        cast(open as double) as open_points,
        cast(high as double) as high_points,
        cast(low as double) as low_points,
        cast(close as double) as close_points,
        cast(settle as double) as settle_points,
        cast(pre_settle as double) as pre_settle_points,
        cast(volume as double) as volume_contracts,
        cast(open_interest as double) as open_interest_contracts,
        cast(turnover as double) * 1e4 as turnover_cny,
        _source as data_source,
        _fetched_at as fetched_at,

    from source

),

equity_index_futures as (

    select * from renamed
    where variety in ('IF', 'IH', 'IC', 'IM')

)

select * from equity_index_futures
