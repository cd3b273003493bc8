-- Changes of the margin-eligible lists (调入 / 调出 融资融券标的, 暂停 / 恢复 融券), one row per
-- trading day x security x event. A day is compared with the trading day before it, and
-- only when its exchange has a list on both: the first list the warehouse holds is the
-- initial state, not a burst of additions, and a gap in the lists makes no event. A
-- security absent from a list is eligible on neither side. SSE's list is derived from its
-- margin detail (int_margin_eligibility_daily), which says nothing of the day's
-- suspensions: SSE has no short_suspended / short_resumed.

with

calendar as (

    select trade_date, trading_day_index from {{ ref('int_trading_calendar') }}

),

lists as (

    select lists.*, calendar.trading_day_index,
    from {{ ref('int_margin_eligibility_daily') }} as lists
    inner join calendar using (trade_date)
    where {{ run_window_filter('lists.trade_date', lookback_trading_days=1) }}

),

list_days as (

    select distinct exchange, trade_date, trading_day_index, from lists

),

compared_days as (

    -- days of the window whose exchange also has a list the trading day before
    select today.exchange, today.trade_date, today.trading_day_index,
    from list_days as today
    inner join list_days as before
        on before.exchange = today.exchange
        and before.trading_day_index = today.trading_day_index - 1
    where {{ run_window_where('today.trade_date') }}

),

today as (

    select lists.*,
    from lists
    semi join compared_days using (exchange, trade_date)

),

yesterday as (

    select lists.*, compared_days.trade_date as compared_trade_date,
    from lists
    inner join compared_days
        on lists.exchange = compared_days.exchange
        and lists.trading_day_index = compared_days.trading_day_index - 1

),

compared as (

    select
        coalesce(today.trade_date, yesterday.compared_trade_date) as trade_date,
        coalesce(today.security_code, yesterday.security_code) as security_code,
        coalesce(today.exchange, yesterday.exchange) as exchange,
        coalesce(today.is_financing_eligible, false) as is_financing_now,
        coalesce(yesterday.is_financing_eligible, false) as was_financing,
        coalesce(today.is_short_eligible, false) as is_short_now,
        coalesce(yesterday.is_short_eligible, false) as was_short,
        today.can_short_today as can_short_now,
        yesterday.can_short_today as could_short,
    from today
    full outer join yesterday
        on today.exchange = yesterday.exchange
        and today.security_code = yesterday.security_code
        and today.trade_date = yesterday.compared_trade_date

),

events as (

    select trade_date, security_code, exchange, 'financing_added' as event_type,
    from compared where is_financing_now and not was_financing
    union all
    select trade_date, security_code, exchange, 'financing_removed' as event_type,
    from compared where was_financing and not is_financing_now
    union all
    select trade_date, security_code, exchange, 'short_added' as event_type,
    from compared where is_short_now and not was_short
    union all
    select trade_date, security_code, exchange, 'short_removed' as event_type,
    from compared where was_short and not is_short_now
    union all
    -- on the list both days, new short sales stopped (当日可融券 Y -> N) or allowed again
    select trade_date, security_code, exchange, 'short_suspended' as event_type,
    from compared where is_short_now and was_short and could_short and not can_short_now
    union all
    select trade_date, security_code, exchange, 'short_resumed' as event_type,
    from compared where is_short_now and was_short and not could_short and can_short_now

),

final as (

    select
        cast(trade_date as date) as trade_date,
        cast(security_code as varchar) as security_code,
        cast(exchange as varchar) as exchange,
        cast(event_type as varchar) as event_type,
    from events

)

select * from final
