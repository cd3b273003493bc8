-- Spells of margin eligibility (融资融券标的资格区间), one row per security and run of
-- consecutive trading days with the same list state: [valid_from, valid_to), valid_to
-- the first trading day the state no longer held (the day it changed, or the security
-- left the list), null while it still holds on its exchange's latest list. A security
-- off its exchange's list has no spell for those days. SSE's state is derived from its
-- margin detail (eligibility_source = 'sse_margin_detail').

with

calendar as (

    select trade_date, trading_day_index from {{ ref('int_trading_calendar') }}

),

daily as (

    select lists.*, calendar.trading_day_index,
    from {{ ref('int_margin_eligibility_daily') }} as lists
    inner join calendar using (trade_date)

),

latest_lists as (

    select exchange, max(trading_day_index) as latest_index, from daily group by exchange

),

starts as (

    -- a spell starts where the day before is not the same state on the trading day before
    select
        *,
        case
            when lag(trading_day_index) over security_days = trading_day_index - 1
                and lag(is_financing_eligible) over security_days is not distinct from is_financing_eligible
                and lag(is_short_eligible) over security_days is not distinct from is_short_eligible
                and lag(can_finance_today) over security_days is not distinct from can_finance_today
                and lag(can_short_today) over security_days is not distinct from can_short_today
                and lag(eligibility_source) over security_days is not distinct from eligibility_source
                then 0
            else 1
        end as starts_spell,
    from daily
    window security_days as (partition by security_code order by trading_day_index)

),

numbered as (

    select
        *,
        sum(starts_spell) over (
            partition by security_code order by trading_day_index rows unbounded preceding
        ) as spell_number,
    from starts

),

spells as (

    select
        security_code,
        spell_number,
        exchange,
        is_financing_eligible,
        is_short_eligible,
        can_finance_today,
        can_short_today,
        eligibility_source,
        min(trade_date) as valid_from,
        max(trading_day_index) as last_index,
    from numbered
    group by all

),

final as (

    select
        cast(spells.security_code as varchar) as security_code,
        cast(spells.exchange as varchar) as exchange,
        cast(spells.valid_from as date) as valid_from,
        cast(case when spells.last_index < latest_lists.latest_index then after.trade_date end as date)
            as valid_to,
        cast(spells.is_financing_eligible as boolean) as is_financing_eligible,
        cast(spells.is_short_eligible as boolean) as is_short_eligible,
        cast(spells.can_finance_today as boolean) as can_finance_today,
        cast(spells.can_short_today as boolean) as can_short_today,
        cast(spells.eligibility_source as varchar) as eligibility_source,
    from spells
    inner join latest_lists using (exchange)
    left join calendar as after on after.trading_day_index = spells.last_index + 1

)

select * from final
