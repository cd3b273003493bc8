-- SZSE margin detail, one row per trading day and security, as published.
-- No date column at the source: trade_date is the trading day of the request.
-- No repayments; the short balance in CNY is published.

with

source as (

    select * from {{ source('raw', 'stock_margin_detail_szse') }}

),

renamed as (

    select
        cast(trade_date as date) as trade_date,
        'SZSE' as exchange,
        lpad(trim(cast("证券代码" as varchar)), 6, '0') as security_code,
        trim("证券简称") as security_name,
        cast("融资余额" as double) as financing_balance_cny,
        cast("融资买入额" as double) as financing_buy_cny,
        cast("融券余量" as double) as short_volume_shares,
        cast("融券卖出量" as double) as short_sell_volume_shares,
        cast("融券余额" as double) as short_balance_cny,
        cast("融资融券余额" as double) as margin_total_cny,
        _source as data_source,
        _fetched_at as fetched_at,

    from source

)

select * from renamed
