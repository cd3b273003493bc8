-- SSE published margin totals, one row per trading day, in CNY and shares.

with

source as (

    select * from {{ source('raw', 'stock_margin_sse') }}

),

renamed as (

    select
        cast(trade_date as date) as trade_date,
        'SSE' as exchange,
        cast("融资余额" as double) as financing_balance_cny,
        cast("融资买入额" as double) as financing_buy_cny,
        cast("融券余量" as double) as short_volume_shares,
        cast("融券余量金额" as double) as short_balance_cny,
        cast("融券卖出量" as double) as short_sell_volume_shares,
        cast("融资融券余额" as double) as margin_total_cny,
        _source as data_source,
        _fetched_at as fetched_at,

    from source

)

select * from renamed
