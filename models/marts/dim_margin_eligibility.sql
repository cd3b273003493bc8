-- Spells of margin eligibility (融资融券标的资格区间), one row per security and run of
-- consecutive trading days with the same list state: [valid_from, valid_to), valid_to
-- the first trading day the state no longer held (the day it changed, or the security
-- left the list), null while it still holds on its exchange's latest list. A security
-- off its exchange's list has no spell for those days. SSE's state is derived from its
-- margin detail (eligibility_source = 'sse_margin_detail').

{# Rebuilt whole on every run, over every list day of every security (ten years of the
    whole market: ~10 M rows). The state is packed into one integer and the runs found
    as islands (trading-day index minus the row number within security and state), so
    one window sorts two integers per row, instead of six lags over every column. #}

with

calendar as (

    select trade_date, trading_day_index from {{ ref('int_trading_calendar') }}

),

daily as (

    select
        lists.security_code,
        lists.exchange,
        lists.trade_date,
        calendar.trading_day_index,
        -- booleans 0/1; the day's flags 0/1, or 2 where the list does not say (SSE)
        cast(lists.is_financing_eligible as integer)
            + 2 * cast(lists.is_short_eligible as integer)
            + 4 * coalesce(cast(lists.can_finance_today as integer), 2)
            + 12 * coalesce(cast(lists.can_short_today as integer), 2)
            + 36 * cast(lists.eligibility_source = 'sse_margin_detail' as integer)
            as state_code,
    from {{ ref('int_margin_eligibility_daily') }} as lists
    inner join calendar using (trade_date)

),

latest_lists as (

    select exchange, max(trading_day_index) as latest_index, from daily group by exchange

),

islands as (

    select
        *,
        trading_day_index - row_number() over (
            partition by security_code, state_code order by trading_day_index
        ) as island,
    from daily

),

spells as (

    select
        security_code,
        any_value(exchange) as exchange,
        state_code,
        min(trade_date) as valid_from,
        max(trading_day_index) as last_index,
    from islands
    group by security_code, state_code, island

),

final as (

    select
        cast(spells.security_code as varchar) as security_code,
        cast(spells.exchange as varchar) as exchange,
        cast(spells.valid_from as date) as valid_from,
        cast(case when spells.last_index < latest_lists.latest_index then after.trade_date end as date)
            as valid_to,
        cast(state_code % 2 = 1 as boolean) as is_financing_eligible,
        cast(state_code // 2 % 2 = 1 as boolean) as is_short_eligible,
        cast(case state_code // 4 % 3 when 2 then null else state_code // 4 % 3 = 1 end as boolean)
            as can_finance_today,
        cast(case state_code // 12 % 3 when 2 then null else state_code // 12 % 3 = 1 end as boolean)
            as can_short_today,
        cast(case when state_code // 36 = 1 then 'sse_margin_detail' else 'exchange_list' end as varchar)
            as eligibility_source,
    from spells
    inner join latest_lists using (exchange)
    left join calendar as after on after.trading_day_index = spells.last_index + 1

)

select * from final
