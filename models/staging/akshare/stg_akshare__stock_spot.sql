-- The post-close snapshot of every A share (东方财富 沪深京A股 实时行情, akshare
-- stock_zh_a_spot_em), taken after the close of trade_date: 最新价 is then the close.
-- Eastmoney lists suspended securities with no price: they have no quote that day.
-- Float shares are not published; 流通市值 / 最新价 gives them (rounded to whole shares).

with

source as (

    select * from {{ source('raw', 'stock_zh_a_spot_em') }}

),

renamed as (

    select
        cast(trade_date as date) as trade_date,
        {{ security_code_across_bse_switch('"代码"') }} as security_code,
        {{ exchange_of_code('"代码"') }} as exchange,
        cast("今开" as double) as open_cny,
        cast("最高" as double) as high_cny,
        cast("最低" as double) as low_cny,
        cast("最新价" as double) as close_cny,
        cast("成交量" as double) * 100 as volume_shares,  -- 手 (lots of 100 shares)
        cast("成交额" as double) as amount_cny,
        round(cast("流通市值" as double) / cast("最新价" as double)) as float_shares,
        cast("换手率" as double) / 100 as turnover_ratio,  -- published in percent
        cast("流通市值" as double) as float_market_cap_cny,
        _source as data_source,
        _fetched_at as fetched_at,

    from source
    where "最新价" > 0

)

select * from renamed
