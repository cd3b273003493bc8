-- Margin-trading and short-selling policy events, one row per event, from the curated
-- seed (every row has a source; is_date_confirmed = false marks an unconfirmed date),
-- plus an 'unknown' member so facts never lose rows on a missing event.
-- effective_trade_date: the first trading day on or after the effective date, the
-- day 0 of the event windows; none where the calendar does not cover the date (no
-- trading day within two weeks after it: before the calendar's first day, or in a gap
-- such as the one between 1992-05-04, which akshare adds to Sina's calendar, and a
-- calendar that starts years later).

{{ config(materialized='table') }}

with

events as (

    select * from {{ ref('stg_reference__policy_events') }}

),

calendar as (

    select trade_date from {{ ref('int_trading_calendar') }}

),

calendar_bounds as (

    select min(trade_date) as first_trade_date from calendar

),

with_trade_date as (

    -- no day 0 for an event the calendar does not cover
    select
        events.* exclude (calendar_trade_date),
        case
            when events.effective_date >= calendar_bounds.first_trade_date
                and events.calendar_trade_date <= events.effective_date + interval 14 day
                then events.calendar_trade_date
        end as effective_trade_date,
    from (
        select
            events.*,
            calendar.trade_date as calendar_trade_date,
        from events
        asof left join calendar
            on calendar.trade_date >= events.effective_date
    ) as events
    cross join calendar_bounds

),

unknown_member as (

    select
        'unknown' as event_id,
        cast(null as date) as announced_date,
        cast(null as date) as effective_date,
        cast(null as date) as second_effective_date,
        cast(null as date) as effective_trade_date,
        'unknown' as issuer,
        '未知事件' as title_zh,
        'Unknown event' as description_en,
        'unknown' as category,
        'unknown' as short_selling_direction,
        false as is_date_confirmed,
        'none' as source,

),

unioned as (

    select * from with_trade_date
    union all by name
    select * from unknown_member

),

final as (

    select
        cast(event_id as varchar) as event_id,
        cast(announced_date as date) as announced_date,
        cast(effective_date as date) as effective_date,
        cast(second_effective_date as date) as second_effective_date,
        cast(effective_trade_date as date) as effective_trade_date,
        cast(issuer as varchar) as issuer,
        cast(title_zh as varchar) as title_zh,
        cast(description_en as varchar) as description_en,
        cast(category as varchar) as category,
        cast(short_selling_direction as varchar) as short_selling_direction,
        cast(is_date_confirmed as boolean) as is_date_confirmed,
        cast(source as varchar) as source,
    from unioned

)

select * from final
