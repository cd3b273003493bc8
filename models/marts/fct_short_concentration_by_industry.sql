-- Short selling by Shenwan industry, one row per trading day x industry level (1, 2)
-- x industry. Funds (ETFs, LOFs) have no Shenwan industry: they form the industry
-- 'fund'; stocks without a classification on the day (new listings) fall into
-- 'unknown'. So the industries of a level add up to the market.
-- short_hhi = sum over the industry's securities of (their share of its short
-- balance)^2 = sum(s^2) / sum(s)^2: 1 when one security holds all of it.
-- Summed from fct_balance_to_float's rows, so the marts agree by construction. In a
-- full build this model and its reconciliation test then run after that one, not
-- beside its join back (a large hash table, and more for the insert), which together
-- pushed past DuckDB's memory limit (BENCHMARKS.md).

with

detail as (

    select * from {{ ref('fct_balance_to_float') }}
    where {{ run_window_filter() }}

),

industries as (

    select * from {{ ref('stg_reference__sw2021_industries') }}

),

by_level as (

    select
        trade_date,
        1 as industry_level,
        coalesce(sw_l1_code, {{ unclassified_industry() }}) as industry_code,
        security_code,
        security_name,
        short_balance_cny,
        financing_balance_cny,
        float_market_cap_cny,
    from detail

    union all

    select
        trade_date,
        2 as industry_level,
        coalesce(sw_l2_code, {{ unclassified_industry() }}) as industry_code,
        security_code,
        security_name,
        short_balance_cny,
        financing_balance_cny,
        float_market_cap_cny,
    from detail

),

industry_totals as (

    select
        trade_date,
        industry_level,
        industry_code,
        count(*) as securities_count,
        count(*) filter (where short_balance_cny > 0) as securities_with_short_count,
        coalesce(sum(short_balance_cny), 0) as short_balance_cny,
        coalesce(sum(financing_balance_cny), 0) as financing_balance_cny,
        sum(float_market_cap_cny) as float_market_cap_cny,
        sum(short_balance_cny) filter (where float_market_cap_cny > 0)
            as covered_short_balance_cny,
        sum(financing_balance_cny) filter (where float_market_cap_cny > 0)
            as covered_financing_balance_cny,
        sum(short_balance_cny * short_balance_cny) as short_balance_squares,
        arg_max(security_code, short_balance_cny) filter (where short_balance_cny > 0)
            as top_short_security_code,
        arg_max(security_name, short_balance_cny) filter (where short_balance_cny > 0)
            as top_short_security_name,
        max(short_balance_cny) filter (where short_balance_cny > 0)
            as top_short_balance_cny,
    from by_level
    group by trade_date, industry_level, industry_code

),

with_market as (

    select
        *,
        sum(short_balance_cny) over (partition by trade_date, industry_level)
            as market_short_balance_cny,
    from industry_totals

),

final as (

    select
        cast(with_market.trade_date as date) as trade_date,
        cast(with_market.industry_level as integer) as industry_level,
        cast(with_market.industry_code as varchar) as industry_code,
        cast(
            case
                when with_market.industry_code = 'unknown' then '未分类'
                when with_market.industry_code = 'fund' then '基金'
                else industries.industry_name_zh
            end as varchar
        ) as industry_name,
        cast(
            case
                when with_market.industry_code = 'unknown' then 'Unclassified'
                when with_market.industry_code = 'fund' then 'Funds (ETF, LOF)'
                else industries.industry_name_en
            end as varchar
        ) as industry_name_en,
        cast(with_market.short_balance_cny as double) as short_balance_cny,
        cast(with_market.financing_balance_cny as double) as financing_balance_cny,
        cast(with_market.float_market_cap_cny as double) as float_market_cap_cny,
        cast(
            with_market.covered_short_balance_cny
            / nullif(with_market.float_market_cap_cny, 0) as double
        ) as short_to_float_ratio,
        cast(
            with_market.covered_financing_balance_cny
            / nullif(with_market.float_market_cap_cny, 0) as double
        ) as financing_to_float_ratio,
        cast(
            with_market.short_balance_cny
            / nullif(with_market.market_short_balance_cny, 0) as double
        ) as share_of_market_short_ratio,
        cast(with_market.securities_count as integer) as securities_count,
        cast(with_market.securities_with_short_count as integer)
            as securities_with_short_count,
        cast(
            with_market.short_balance_squares
            / nullif(with_market.short_balance_cny * with_market.short_balance_cny, 0)
            as double
        ) as short_hhi,
        cast(with_market.top_short_security_code as varchar) as top_short_security_code,
        cast(with_market.top_short_security_name as varchar) as top_short_security_name,
        cast(with_market.top_short_balance_cny as double) as top_short_balance_cny,
        cast(
            with_market.top_short_balance_cny
            / nullif(with_market.short_balance_cny, 0) as double
        ) as top_short_share_of_industry_ratio,
    from with_market
    left join industries
        on with_market.industry_code = industries.industry_code
        and with_market.industry_level = industries.industry_level

)

select * from final
