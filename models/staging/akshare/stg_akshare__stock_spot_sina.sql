-- Sina's post-close snapshot of every A share (新浪 沪深京A股 行情, akshare stock_zh_a_spot),
-- taken only for a close Eastmoney's snapshot (stg_akshare__stock_spot) refused: 最新价 is
-- then the close. Sina lists a suspended stock with 最新价 0: no quote that day. akshare
-- drops Sina's float market cap, so float shares are not here (int_security_quotes_daily
-- carries each stock's last known ones).

with

source as (

    select * from {{ source('raw', 'stock_zh_a_spot') }}

),

renamed as (

    select
        cast(trade_date as date) as trade_date,
        {{ security_code_across_bse_switch('right(trim("代码"), 6)') }} as security_code,
        {{ exchange_of_sina_symbol('"代码"') }} as exchange,
        cast("今开" as double) as open_cny,
        cast("最高" as double) as high_cny,
        cast("最低" as double) as low_cny,
        cast("最新价" as double) as close_cny,
        cast("成交量" as double) as volume_shares,  -- shares (Eastmoney's is in lots)
        cast("成交额" as double) as amount_cny,
        _source as data_source,
        _fetched_at as fetched_at,

    from source
    where "最新价" > 0

)

select * from renamed
