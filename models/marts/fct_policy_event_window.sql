-- Event study of the policy timeline on the whole market: one row per event x offset
-- in trading days from the event's effective trading day (-20 ... +20), with the
-- market's short and financing balances and short-to-float ratio, and their change
-- from offset 0. Rows exist for the days the warehouse holds market data.
-- A whole-history table of a few thousand rows: rebuilt on every run.

{{ config(materialized='table') }}

with

events as (

    select * from {{ ref('dim_policy_event') }}
    where event_id <> 'unknown' and effective_trade_date is not null

),

calendar as (

    select trade_date, trading_day_index from {{ ref('int_trading_calendar') }}

),

market as (

    select * from {{ ref('fct_market_short_daily') }}

),

{{ policy_event_days() }},

with_market as (

    select
        event_days.*,
        market.short_balance_cny,
        market.financing_balance_cny,
        market.margin_total_cny,
        market.short_to_float_ratio,
        market.financing_to_float_ratio,
    from event_days
    inner join market using (trade_date)

),

with_event_day as (

    select
        *,
        max(case when offset_trading_days = 0 then short_balance_cny end)
            over (partition by event_id) as event_day_short_balance_cny,
        max(case when offset_trading_days = 0 then financing_balance_cny end)
            over (partition by event_id) as event_day_financing_balance_cny,
        max(case when offset_trading_days = 0 then short_to_float_ratio end)
            over (partition by event_id) as event_day_short_to_float_ratio,
    from with_market

),

final as (

    select
        cast(event_id as varchar) as event_id,
        cast(offset_trading_days as integer) as offset_trading_days,
        cast(trade_date as date) as trade_date,
        cast(effective_trade_date as date) as effective_trade_date,
        cast(short_selling_direction as varchar) as short_selling_direction,
        cast(short_balance_cny as double) as short_balance_cny,
        cast(financing_balance_cny as double) as financing_balance_cny,
        cast(margin_total_cny as double) as margin_total_cny,
        cast(short_to_float_ratio as double) as short_to_float_ratio,
        cast(financing_to_float_ratio as double) as financing_to_float_ratio,
        cast(short_balance_cny - event_day_short_balance_cny as double)
            as short_balance_change_from_event_cny,
        cast(
            short_balance_cny / nullif(event_day_short_balance_cny, 0) - 1 as double
        ) as short_balance_change_from_event_ratio,
        cast(financing_balance_cny - event_day_financing_balance_cny as double)
            as financing_balance_change_from_event_cny,
        cast(
            financing_balance_cny / nullif(event_day_financing_balance_cny, 0) - 1
            as double
        ) as financing_balance_change_from_event_ratio,
        cast(short_to_float_ratio - event_day_short_to_float_ratio as double)
            as short_to_float_ratio_change_from_event,
    from with_event_day

)

select * from final
