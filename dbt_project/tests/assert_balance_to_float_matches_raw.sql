-- fct_balance_to_float against values recomputed from the raw frames (independent SQL:
-- macros/testing/independent_margin_detail.sql) on the days of the run's window, or
-- on a full build the last trading day of every month: short balance, float market
-- cap, short-to-float ratio and level-1 industry of every security, to 1e-9 relative.
-- Also fails when the mart misses a security of a sampled day it holds.

{{ config(meta={'dagster': {'ref': {'name': 'fct_balance_to_float'}}}) }}

{%- set sample_days = independent_test_days() %}

with

{{ independent_margin_detail(sample_days) }},

mart as (

    select * from {{ ref('fct_balance_to_float') }}
    where {{ sample_days }}

),

compared as (

    select
        independent_detail.trade_date,
        independent_detail.security_code,
        mart.security_code is null as is_missing_from_mart,
        mart.short_balance_cny as mart_short_balance_cny,
        independent_detail.short_balance_cny as expected_short_balance_cny,
        mart.float_market_cap_cny as mart_float_market_cap_cny,
        independent_detail.float_market_cap_cny as expected_float_market_cap_cny,
        mart.short_to_float_ratio as mart_short_to_float_ratio,
        independent_detail.short_balance_cny
            / nullif(independent_detail.float_market_cap_cny, 0)
            as expected_short_to_float_ratio,
        mart.sw_l1_code as mart_sw_l1_code,
        independent_detail.sw_l1_code as expected_sw_l1_code,
    from independent_detail
    left join mart
        on independent_detail.trade_date = mart.trade_date
        and independent_detail.security_code = mart.security_code
    -- only the sampled days the mart holds (a partially built mart is not an error)
    where independent_detail.trade_date in (select trade_date from mart)

)

select *
from compared
where is_missing_from_mart
    or abs(mart_short_balance_cny - expected_short_balance_cny)
        > 1e-9 * abs(expected_short_balance_cny)
    or (mart_short_balance_cny is null) <> (expected_short_balance_cny is null)
    or abs(mart_float_market_cap_cny - expected_float_market_cap_cny)
        > 1e-9 * abs(expected_float_market_cap_cny)
    or (mart_float_market_cap_cny is null) <> (expected_float_market_cap_cny is null)
    or abs(mart_short_to_float_ratio - expected_short_to_float_ratio)
        > 1e-9 * abs(expected_short_to_float_ratio)
    or mart_sw_l1_code is distinct from expected_sw_l1_code
