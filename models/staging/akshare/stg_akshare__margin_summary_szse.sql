-- SZSE published margin totals, one row per trading day. akshare returns them in
-- 亿 (1e8): converted here to CNY and shares.

with

source as (

    select * from {{ source('raw', 'stock_margin_szse') }}

),

renamed as (

    select
        cast(trade_date as date) as trade_date,
        'SZSE' as exchange,
        cast("融资余额" as double) * 1e8 as financing_balance_cny,
        cast("融资买入额" as double) * 1e8 as financing_buy_cny,
        cast("融券余量" as double) * 1e8 as short_volume_shares,
        cast("融券余额" as double) * 1e8 as short_balance_cny,
        cast("融券卖出量" as double) * 1e8 as short_sell_volume_shares,
        cast("融资融券余额" as double) * 1e8 as margin_total_cny,
        _source as data_source,
        _fetched_at as fetched_at,

    from source

)

select * from renamed
