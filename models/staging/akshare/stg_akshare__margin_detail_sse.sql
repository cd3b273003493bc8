-- SSE margin detail, one row per trading day and security, as published.
-- SSE publishes repayments but no short balance in CNY: that is derived downstream
-- from the short volume and the close.

with

source as (

    select * from {{ source('raw', 'stock_margin_detail_sse') }}

),

renamed as (

    select
        cast(trade_date as date) as trade_date,
        'SSE' as exchange,
        lpad(trim(cast("标的证券代码" as varchar)), 6, '0') as security_code,
        trim("标的证券简称") as security_name,
        cast("融资余额" as double) as financing_balance_cny,
        cast("融资买入额" as double) as financing_buy_cny,
        cast("融资偿还额" as double) as financing_repay_cny,
        cast("融券余量" as double) as short_volume_shares,
        cast("融券卖出量" as double) as short_sell_volume_shares,
        cast("融券偿还量" as double) as short_repay_volume_shares,
        _source as data_source,
        _fetched_at as fetched_at,

    from source

)

select * from renamed
