-- Market leverage indicators (两融杠杆监测指标), one row per trading day: common margin-monitoring
-- monitoring indicators from the per-security detail (financing buys against turnover,
-- the repayment rate, margin against float cap, the financing balance's volatility) and
-- Eastmoney's account statistics (maintenance ratio, collateral, investors with debt).
-- Sums run over the margin-list securities with what each ratio needs (a bar for
-- turnover, a float cap for the float ratio, yesterday's row for repayments rolled
-- forward), so a missing figure leaves a security out rather than counting as zero.
-- depends_on: {{ ref('signal_thresholds') }}

{%- set volatility_days = signal_threshold('leverage_volatility_window_trading_days') | int %}

with

calendar as (

    select trade_date, trading_day_index from {{ ref('int_trading_calendar') }}

),

balances as (

    select *
    from {{ ref('fct_balance_to_float') }}
    where {{ run_window_filter('trade_date', lookback_trading_days=volatility_days + 1) }}

),

accounts as (

    select trade_date, avg_maintenance_ratio, collateral_value_cny, investors_with_debt_count,
    from {{ ref('stg_akshare__margin_account') }}

),

market as (

    select
        trade_date,
        sum(financing_balance_cny) as financing_balance_cny,
        sum(financing_buy_cny) filter (where turnover_cny > 0)
            / nullif(sum(turnover_cny) filter (where turnover_cny > 0 and financing_buy_cny is not null), 0)
            as financing_buy_to_turnover_ratio,
        sum(financing_buy_cny - net_financing_buy_cny) filter (where net_financing_buy_cny is not null)
            / nullif(sum(financing_buy_cny) filter (where net_financing_buy_cny is not null), 0)
            as financing_repay_to_buy_ratio,
        sum(margin_total_cny) filter (where float_market_cap_cny > 0)
            / nullif(sum(float_market_cap_cny) filter (where float_market_cap_cny > 0), 0)
            as margin_to_float_ratio,
    from balances
    group by trade_date

),

changes as (

    select
        market.*,
        calendar.trading_day_index,
        case
            when lag(calendar.trading_day_index) over market_days = calendar.trading_day_index - 1
                then financing_balance_cny / nullif(lag(financing_balance_cny) over market_days, 0) - 1
        end as financing_balance_change_1d_ratio,
    from market
    inner join calendar using (trade_date)
    window market_days as (order by calendar.trading_day_index)

),

volatility as (

    select
        *,
        -- only over a full window of consecutive daily changes
        case
            when count(financing_balance_change_1d_ratio) over recent = {{ volatility_days }}
                and min(trading_day_index) over recent = trading_day_index - {{ volatility_days - 1 }}
                then stddev_samp(financing_balance_change_1d_ratio) over recent
        end as financing_balance_change_volatility_20d_ratio,
    from changes
    window recent as (order by trading_day_index rows between {{ volatility_days - 1 }} preceding and current row)

),

final as (

    select
        cast(volatility.trade_date as date) as trade_date,
        cast(financing_balance_cny as double) as financing_balance_cny,
        cast(financing_buy_to_turnover_ratio as double) as financing_buy_to_turnover_ratio,
        cast(financing_repay_to_buy_ratio as double) as financing_repay_to_buy_ratio,
        cast(accounts.avg_maintenance_ratio as double) as avg_maintenance_ratio,
        cast(accounts.collateral_value_cny as double) as collateral_value_cny,
        cast(accounts.investors_with_debt_count as bigint) as investors_with_debt_count,
        cast(margin_to_float_ratio as double) as margin_to_float_ratio,
        cast(financing_balance_change_1d_ratio as double) as financing_balance_change_1d_ratio,
        cast(financing_balance_change_volatility_20d_ratio as double)
            as financing_balance_change_volatility_20d_ratio,
    from volatility
    left join accounts using (trade_date)
    where {{ run_window_where('volatility.trade_date') }}

)

select * from final
