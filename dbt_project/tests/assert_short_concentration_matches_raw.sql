-- fct_short_concentration_by_industry (level 1) against industry sums recomputed from
-- the raw frames (independent SQL: macros/testing/independent_margin_detail.sql) on
-- the days of the run's window, or on a full build the last trading day of every
-- month: short balance, share of the market and HHI of every level-1 industry, to
-- 1e-9 relative.

{{ config(meta={'dagster': {'ref': {'name': 'fct_short_concentration_by_industry'}}}) }}

{%- set sample_days = independent_test_days() %}

with

{{ independent_margin_detail(sample_days) }},

by_industry as (

    select
        trade_date,
        -- funds by their code, as the exchanges number them: a fund Sina does not know
        -- has no bars, and is a fund all the same
        coalesce(
            sw_l1_code,
            case when {{ security_type_of_code('security_code') }} = 'fund' then 'fund'
                 else 'unknown' end
        ) as industry_code,
        sum(short_balance_cny) as short_balance_cny,
        sum(short_balance_cny ^ 2) / nullif(sum(short_balance_cny) ^ 2, 0) as short_hhi,
    from independent_detail
    group by all

),

expected as (

    select
        *,
        short_balance_cny / nullif(sum(short_balance_cny) over (partition by trade_date), 0)
            as share_of_market_short_ratio,
    from by_industry

),

mart as (

    select * from {{ ref('fct_short_concentration_by_industry') }}
    where industry_level = 1 and {{ sample_days }}

),

compared as (

    select
        expected.trade_date,
        expected.industry_code,
        mart.industry_code is null as is_missing_from_mart,
        mart.short_balance_cny as mart_short_balance_cny,
        expected.short_balance_cny as expected_short_balance_cny,
        mart.share_of_market_short_ratio as mart_share,
        expected.share_of_market_short_ratio as expected_share,
        mart.short_hhi as mart_short_hhi,
        expected.short_hhi as expected_short_hhi,
    from expected
    left join mart
        on expected.trade_date = mart.trade_date
        and expected.industry_code = mart.industry_code
    where expected.trade_date in (select trade_date from mart)

)

select *
from compared
where is_missing_from_mart
    or abs(mart_short_balance_cny - expected_short_balance_cny)
        > greatest(1e-9 * abs(expected_short_balance_cny), 1e-6)
    or abs(mart_share - expected_share) > 1e-9
    or abs(mart_short_hhi - expected_short_hhi) > 1e-9
