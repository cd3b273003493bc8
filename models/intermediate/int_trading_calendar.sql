-- The trading calendar with a trading-day index, so "N trading days back" is a join
-- or a window frame on trading_day_index, never a weekday guess.
--
-- Sina's calendar file has ended on the old year's last day well into January; the
-- days SSE published margin totals for after its end are trading days too (the loader
-- learns them from SSE while Sina lags), so they extend the calendar, never rewrite it.

{{ config(materialized='table') }}

with

sina as (

    select trade_date from {{ ref('stg_akshare__trading_calendar') }}

),

learned_from_sse as (

    select distinct trade_date
    from {{ ref('stg_akshare__margin_summary_sse') }}
    where trade_date > (select max(trade_date) from sina)

),

calendar as (

    select trade_date from sina
    union all
    select trade_date from learned_from_sse

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
