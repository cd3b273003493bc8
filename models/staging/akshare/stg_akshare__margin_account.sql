-- Market margin accounts per day (两融账户信息, Eastmoney), one row per day, in CNY and
-- persons: Eastmoney publishes the balances in 亿 (1e8 CNY), individual investors in 万
-- (1e4 persons) and the average maintenance ratio in percent (here a fraction: 2.5 = 250 %).
-- The two disputed counts (参与交易的投资者数量, 有融资融券负债的投资者数量) arrive in 名 or
-- 万名; the load stores them in persons (margin_wh/sources/parse.py), so they are read as is.

with

source as (

    select * from {{ source('raw', 'stock_margin_account_info') }}

),

renamed as (

    select
        cast("日期" as date) as trade_date,
        cast("融资余额" as double) * 1e8 as financing_balance_cny,
        cast("融券余额" as double) * 1e8 as short_balance_cny,
        cast("融资买入额" as double) * 1e8 as financing_buy_cny,
        cast("融券卖出额" as double) * 1e8 as short_sell_cny,
        cast("个人投资者数量" as double) * 1e4 as individual_investors_count,
        cast("机构投资者数量" as double) as institutional_investors_count,
        cast("参与交易的投资者数量" as double) as trading_investors_count,
        cast("有融资融券负债的投资者数量" as double) as investors_with_debt_count,
        cast("担保物总价值" as double) * 1e8 as collateral_value_cny,
        cast("平均维持担保比例" as double) / 100 as avg_maintenance_ratio,
        _source as data_source,
        _fetched_at as fetched_at,

    from source
    where "日期" is not null

)

select * from renamed
