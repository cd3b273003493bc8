{#-
    The event-study grid shared by the policy-window marts: one row per event × offset
    in trading days from its effective trading day, with that offset's trade_date.
    Expects CTEs `events` (event_id, short_selling_direction, effective_trade_date) and
    `calendar` (trade_date, trading_day_index) before it; renders `offsets`, `event_days`.
-#}
{% macro policy_event_days() %}
offsets as (

    select range as offset_trading_days from range(-20, 21)

),

event_days as (

    select
        events.event_id,
        events.short_selling_direction,
        events.effective_trade_date,
        offsets.offset_trading_days,
        day_calendar.trade_date,
    from events
    inner join calendar as anchor_calendar
        on events.effective_trade_date = anchor_calendar.trade_date
    cross join offsets
    inner join calendar as day_calendar
        on day_calendar.trading_day_index
            = anchor_calendar.trading_day_index + offsets.offset_trading_days

)
{% endmacro %}
