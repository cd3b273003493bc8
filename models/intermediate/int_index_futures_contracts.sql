-- CFFEX equity-index futures contracts, one row per contract, with the expiry date:
-- the third Friday of the contract month, or the next trading day if that Friday is a
-- holiday (trading calendar). Contract codes are <variety><yymm>, e.g. IF2407.

{{ config(materialized='table') }}

with

futures as (

    select * from {{ ref('stg_akshare__index_futures_daily') }}

),

calendar as (

    select * from {{ ref('int_trading_calendar') }}

),

contracts as (

    select
        contract,
        any_value(variety) as variety,
        min(trade_date) as first_trade_date,
        max(trade_date) as last_trade_date,
    from futures
    group by contract

),

contract_months as (

    select
        *,
        make_date(
            2000 + cast(regexp_extract(contract, '([0-9]{2})([0-9]{2})$', 1) as integer),
            cast(regexp_extract(contract, '([0-9]{2})([0-9]{2})$', 2) as integer),
            1
        ) as contract_month,
    from contracts

),

third_fridays as (

    select
        *,
        -- dayofweek: Sunday = 0 ... Friday = 5
        cast(
            contract_month
            + to_days(cast((5 - dayofweek(contract_month) + 7) % 7 + 14 as integer))
            as date
        ) as third_friday_date,
    from contract_months

),

with_expiry as (

    select
        third_fridays.*,
        calendar.trade_date as calendar_expiry_date,
    from third_fridays
    asof left join calendar
        on calendar.trade_date >= third_fridays.third_friday_date

),

final as (

    select
        contract,
        variety,
        contract_month,
        third_friday_date,
        coalesce(calendar_expiry_date, third_friday_date) as expiry_date,
        calendar_expiry_date is null as is_expiry_estimated,
        first_trade_date,
        last_trade_date,
    from with_expiry

)

select * from final
