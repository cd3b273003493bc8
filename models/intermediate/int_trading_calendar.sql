-- The trading calendar with a trading-day index, so "N trading days back" is a join
-- or a window frame on trading_day_index, never a weekday guess.

{{ config(materialized='table') }}

with

calendar as (

    select * from {{ ref('stg_akshare__trading_calendar') }}

),

indexed as (

    select
        trade_date,
        row_number() over (order by trade_date) as trading_day_index,
        year(trade_date) as calendar_year,
        row_number() over (
            partition by year(trade_date) order by trade_date
        ) as year_trading_day_number,
        min(trade_date) over (partition by year(trade_date)) as first_trade_date_of_year,
        lag(trade_date) over (order by trade_date) as previous_trade_date,
        lead(trade_date) over (order by trade_date) as next_trade_date,

    from calendar

)

select * from indexed
