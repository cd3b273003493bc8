-- Event study of the policy timeline by Shenwan level-1 industry: one row per event x
-- offset in trading days (-20 ... +20) x industry, with the industry's short and
-- financing balances, short-to-float ratio, share of the market's short balance, and
-- their change from offset 0. A whole-history table: rebuilt on every run.

{{ config(materialized='table') }}

with

events as (

    select * from {{ ref('dim_policy_event') }}
    where event_id <> 'unknown' and effective_trade_date is not null

),

calendar as (

    select trade_date, trading_day_index from {{ ref('int_trading_calendar') }}

),

industries as (

    select * from {{ ref('fct_short_concentration_by_industry') }}
    where industry_level = 1

),

{{ policy_event_days() }},

with_industry as (

    select
        event_days.*,
        industries.industry_code,
        industries.industry_name,
        industries.industry_name_en,
        industries.short_balance_cny,
        industries.financing_balance_cny,
        industries.short_to_float_ratio,
        industries.financing_to_float_ratio,
        industries.share_of_market_short_ratio,
    from event_days
    inner join industries using (trade_date)

),

with_event_day as (

    select
        *,
        max(case when offset_trading_days = 0 then short_balance_cny end)
            over event_industry as event_day_short_balance_cny,
        max(case when offset_trading_days = 0 then financing_balance_cny end)
            over event_industry as event_day_financing_balance_cny,
        max(case when offset_trading_days = 0 then short_to_float_ratio end)
            over event_industry as event_day_short_to_float_ratio,
        max(case when offset_trading_days = 0 then share_of_market_short_ratio end)
            over event_industry as event_day_share_of_market_short_ratio,
    from with_industry
    window event_industry as (partition by event_id, industry_code)

),

final as (

    select
        cast(event_id as varchar) as event_id,
        cast(offset_trading_days as integer) as offset_trading_days,
        cast(industry_code as varchar) as industry_code,
        cast(industry_name as varchar) as industry_name,
        cast(industry_name_en as varchar) as industry_name_en,
        cast(trade_date as date) as trade_date,
        cast(effective_trade_date as date) as effective_trade_date,
        cast(short_selling_direction as varchar) as short_selling_direction,
        cast(short_balance_cny as double) as short_balance_cny,
        cast(financing_balance_cny as double) as financing_balance_cny,
        cast(short_to_float_ratio as double) as short_to_float_ratio,
        cast(financing_to_float_ratio as double) as financing_to_float_ratio,
        cast(share_of_market_short_ratio as double) as share_of_market_short_ratio,
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
        cast(
            share_of_market_short_ratio - event_day_share_of_market_short_ratio as double
        ) as share_of_market_short_ratio_change_from_event,
    from with_event_day

)

select * from final
