-- fct_market_short_daily against the whole market recomputed from the raw frames
-- (independent SQL: macros/testing/independent_margin_detail.sql) on the days of the
-- run's window, or on a full build the last trading day of every month: short balance,
-- financing balance and short-to-float ratio, to 1e-6 relative (floating-point
-- summation order) or 1 CNY.

{{ config(meta={'dagster': {'ref': {'name': 'fct_market_short_daily'}}}) }}

with

{{ independent_margin_detail(independent_test_days()) }},

expected as (

    select
        trade_date,
        sum(short_balance_cny) as short_balance_cny,
        sum(financing_balance_cny) as financing_balance_cny,
        sum(short_balance_cny) filter (where float_market_cap_cny > 0)
            / sum(float_market_cap_cny) as short_to_float_ratio,
    from independent_detail
    group by trade_date

),

mart as (

    select * from {{ ref('fct_market_short_daily') }}

),

compared as (

    select
        mart.trade_date,
        mart.short_balance_cny as mart_short_balance_cny,
        expected.short_balance_cny as expected_short_balance_cny,
        mart.financing_balance_cny as mart_financing_balance_cny,
        expected.financing_balance_cny as expected_financing_balance_cny,
        mart.short_to_float_ratio as mart_short_to_float_ratio,
        expected.short_to_float_ratio as expected_short_to_float_ratio,
    from mart
    left join expected using (trade_date)
    where {{ independent_test_days() }}

)

select *
from compared
where expected_short_balance_cny is null
    or abs(mart_short_balance_cny - expected_short_balance_cny)
        > greatest(1e-6 * abs(expected_short_balance_cny), 1)
    or abs(mart_financing_balance_cny - expected_financing_balance_cny)
        > greatest(1e-6 * abs(expected_financing_balance_cny), 1)
    or abs(mart_short_to_float_ratio - expected_short_to_float_ratio)
        > 1e-6 * abs(expected_short_to_float_ratio)
