-- Margin balances against float market cap, one row per trading day and security.
-- Change columns compare with the same security 1, 5 and 20 trading days earlier
-- (on the trading-day index; null unless the security has a row on each of those
-- days), so an incremental run reads `lookback_trading_days` trading days before its
-- window and keeps only the window. Volume and turnover (成交量, 成交额) are the day's own
-- quote, null on a day without one (a suspension): never a carried-forward figure.
-- SZSE and BSE publish no repayments: there they are rolled forward from the balance
-- (前日融资余额 + 融资买入额 − 融资余额), so net buys and the repayment rate cover all three.
-- depends_on: {{ ref('signal_thresholds') }}

{# The window functions run on a narrow projection (keys and the measures they read),
    then join back to the wide rows: a window operator sorts every column it carries,
    and sorting the wide columns (names, industries) through two window orders made the
    model markedly slower at ten years of the whole market (BENCHMARKS.md).
    The detail is read twice rather than shared in a CTE, which DuckDB would materialize.
    The join back is on the detail table's rowid: both reads are scans of the same table
    in one statement, so a row has the same rowid in each, and hashing one integer
    rather than (trade_date, security_code) is cheaper. #}

{%- set volume_days = signal_threshold('days_to_cover_window_trading_days') | int %}

with

calendar as (

    select trade_date, trading_day_index from {{ ref('int_trading_calendar') }}

),

day_quotes as (

    -- the day's own bar (not the ASOF close of the detail): volume and turnover
    select trade_date, security_code, volume_shares, amount_cny as turnover_cny,
    from {{ ref('int_security_quotes_daily') }}
    where {{ run_window_filter('trade_date', lookback_trading_days=var('lookback_trading_days')) }}

),

measures as (

    select
        detail.rowid as detail_rowid,
        detail.trade_date,
        detail.security_code,
        calendar.trading_day_index,
        detail.short_balance_cny,
        detail.short_volume_shares,
        detail.financing_balance_cny,
        detail.financing_buy_cny,
        detail.financing_repay_cny,
        detail.close_cny,
        day_quotes.volume_shares,
        day_quotes.turnover_cny,
        detail.short_balance_cny / nullif(detail.float_market_cap_cny, 0)
            as short_to_float_ratio,
    from {{ ref('int_margin_detail_unified') }} as detail
    left join calendar using (trade_date)
    left join day_quotes using (trade_date, security_code)
    where {{ run_window_filter('detail.trade_date', lookback_trading_days=var('lookback_trading_days')) }}

),

ranked as (

    -- ranked before the lags: the rank's window then sorts these few columns, not all
    -- those the lags add (less memory at ten years of the whole market)
    select
        *,
        case when short_to_float_ratio is not null then
            rank() over (
                partition by trade_date
                order by short_to_float_ratio desc nulls last
            )
        end as short_to_float_rank,
    from measures

),

changes as (

    -- lag(n) is the row exactly n trading days back only when the security has a row
    -- on each of those days: otherwise the change is null
    select
        detail_rowid,
        short_balance_cny - {{ trading_days_back('short_balance_cny', 1) }} as short_balance_change_1d_cny,
        short_balance_cny - {{ trading_days_back('short_balance_cny', 5) }} as short_balance_change_5d_cny,
        short_balance_cny - {{ trading_days_back('short_balance_cny', 20) }} as short_balance_change_20d_cny,
        short_volume_shares - {{ trading_days_back('short_volume_shares', 1) }} as short_volume_change_1d_shares,
        close_cny / nullif({{ trading_days_back('close_cny', 1) }}, 0) - 1 as close_change_1d_ratio,
        financing_balance_cny - {{ trading_days_back('financing_balance_cny', 1) }} as financing_balance_change_1d_cny,
        financing_balance_cny - {{ trading_days_back('financing_balance_cny', 5) }} as financing_balance_change_5d_cny,
        financing_balance_cny - {{ trading_days_back('financing_balance_cny', 20) }} as financing_balance_change_20d_cny,
        -- published (SSE) or rolled forward from yesterday's balance (SZSE, BSE)
        coalesce(
            financing_repay_cny,
            {{ trading_days_back('financing_balance_cny', 1) }} + financing_buy_cny - financing_balance_cny
        ) as financing_repay_effective_cny,
        volume_shares,
        turnover_cny,
        -- the mean only over a full window of trading days with a bar each
        case
            when count(volume_shares) over volume_days = {{ volume_days }}
                and min(trading_day_index) over volume_days = trading_day_index - {{ volume_days - 1 }}
                then avg(volume_shares) over volume_days
        end as mean_volume_window_shares,
        short_to_float_rank,
    from ranked
    window
        security_days as (partition by security_code order by trading_day_index),
        volume_days as (
            partition by security_code order by trading_day_index
            rows between {{ volume_days - 1 }} preceding and current row
        )

),

industries as (

    select industry_level, industry_code, industry_name_zh,
    from {{ ref('stg_reference__sw2021_industries') }}

),

joined as (

    select
        detail.*,
        l1.industry_name_zh as sw_l1_name,
        l2.industry_name_zh as sw_l2_name,
        detail.short_balance_cny / nullif(detail.float_market_cap_cny, 0)
            as short_to_float_ratio,
        detail.financing_balance_cny / nullif(detail.float_market_cap_cny, 0)
            as financing_to_float_ratio,
        changes.* exclude (detail_rowid, financing_repay_effective_cny, mean_volume_window_shares),
        detail.financing_buy_cny / nullif(changes.turnover_cny, 0)
            as financing_buy_to_turnover_ratio,
        detail.financing_buy_cny - changes.financing_repay_effective_cny as net_financing_buy_cny,
        changes.financing_repay_effective_cny / nullif(detail.financing_buy_cny, 0)
            as financing_repay_to_buy_ratio,
        detail.short_volume_shares / nullif(changes.mean_volume_window_shares, 0) as days_to_cover,
    from {{ ref('int_margin_detail_unified') }} as detail
    inner join changes on detail.rowid = changes.detail_rowid
    left join industries as l1
        on detail.sw_l1_code = l1.industry_code and l1.industry_level = 1
    left join industries as l2
        on detail.sw_l2_code = l2.industry_code and l2.industry_level = 2
    where {{ run_window_filter('detail.trade_date') }}

),

final as (

    select
        cast(trade_date as date) as trade_date,
        cast(security_code as varchar) as security_code,
        cast(exchange as varchar) as exchange,
        cast(security_type as varchar) as security_type,
        cast(security_name as varchar) as security_name,
        cast(sw_l1_code as varchar) as sw_l1_code,
        cast(sw_l1_name as varchar) as sw_l1_name,
        cast(sw_l2_code as varchar) as sw_l2_code,
        cast(sw_l2_name as varchar) as sw_l2_name,
        cast(financing_balance_cny as double) as financing_balance_cny,
        cast(financing_buy_cny as double) as financing_buy_cny,
        cast(financing_repay_cny as double) as financing_repay_cny,
        cast(short_volume_shares as double) as short_volume_shares,
        cast(short_sell_volume_shares as double) as short_sell_volume_shares,
        cast(short_repay_volume_shares as double) as short_repay_volume_shares,
        cast(short_balance_cny as double) as short_balance_cny,
        cast(is_short_balance_derived as boolean) as is_short_balance_derived,
        cast(margin_total_cny as double) as margin_total_cny,
        cast(close_cny as double) as close_cny,
        cast(close_trade_date as date) as close_trade_date,
        cast(close_change_1d_ratio as double) as close_change_1d_ratio,
        cast(float_shares as double) as float_shares,
        cast(float_market_cap_cny as double) as float_market_cap_cny,
        cast(financing_to_float_ratio as double) as financing_to_float_ratio,
        cast(short_to_float_ratio as double) as short_to_float_ratio,
        cast(short_to_float_rank as integer) as short_to_float_rank,
        cast(short_balance_change_1d_cny as double) as short_balance_change_1d_cny,
        cast(short_balance_change_5d_cny as double) as short_balance_change_5d_cny,
        cast(short_balance_change_20d_cny as double) as short_balance_change_20d_cny,
        cast(short_volume_change_1d_shares as double) as short_volume_change_1d_shares,
        cast(financing_balance_change_1d_cny as double) as financing_balance_change_1d_cny,
        cast(financing_balance_change_5d_cny as double) as financing_balance_change_5d_cny,
        cast(financing_balance_change_20d_cny as double)
            as financing_balance_change_20d_cny,
        cast(volume_shares as double) as volume_shares,
        cast(turnover_cny as double) as turnover_cny,
        cast(financing_buy_to_turnover_ratio as double) as financing_buy_to_turnover_ratio,
        cast(net_financing_buy_cny as double) as net_financing_buy_cny,
        cast(financing_repay_to_buy_ratio as double) as financing_repay_to_buy_ratio,
        cast(days_to_cover as double) as days_to_cover,
    from joined

)

select * from final
