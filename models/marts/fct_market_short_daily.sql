-- The whole market's margin position, one row per trading day, summed from the
-- per-security rows of fct_balance_to_float (SSE, SZSE and BSE), so the two marts agree
-- by construction: short and financing balances, float
-- market cap, their ratios, changes over 1/5/20 trading days, the year-to-date change
-- against the first trading day of the year, and the drawdown from the running peak
-- (the highest short balance since the warehouse's first day).
--
-- Year-to-date and peak columns need the whole history: an incremental run sums only
-- its window from the detail and reads the earlier days' totals back from this table
-- (one row per day), so it never rescans the detail history.

with

detail as (

    select * from {{ ref('fct_balance_to_float') }}
    where {{ run_window_filter() }}

),

calendar as (

    select * from {{ ref('int_trading_calendar') }}

),

window_totals as (

    select
        trade_date,
        count(*) as securities_count,
        count(*) filter (where short_balance_cny > 0) as securities_with_short_count,
        count(*) filter (where short_balance_cny is null)
            as securities_with_unknown_short_balance_count,
        coalesce(sum(short_balance_cny), 0) as short_balance_cny,
        coalesce(sum(short_volume_shares), 0) as short_volume_shares,
        coalesce(sum(short_sell_volume_shares), 0) as short_sell_volume_shares,
        coalesce(sum(financing_balance_cny), 0) as financing_balance_cny,
        coalesce(sum(financing_buy_cny), 0) as financing_buy_cny,
        -- financing + short over the same rows: a security whose short balance is
        -- unknown (SSE, no close yet) still counts with its financing balance
        coalesce(sum(financing_balance_cny), 0) + coalesce(sum(short_balance_cny), 0)
            as margin_total_cny,
        sum(float_market_cap_cny) as float_market_cap_cny,
        sum(short_balance_cny) filter (where float_market_cap_cny > 0)
            / nullif(sum(float_market_cap_cny), 0) as short_to_float_ratio,
        sum(financing_balance_cny) filter (where float_market_cap_cny > 0)
            / nullif(sum(float_market_cap_cny), 0) as financing_to_float_ratio,
        (
            coalesce(sum(financing_balance_cny) filter (where float_market_cap_cny > 0), 0)
            + coalesce(sum(short_balance_cny) filter (where float_market_cap_cny > 0), 0)
        ) / nullif(sum(float_market_cap_cny), 0) as margin_to_float_ratio,
    from detail
    group by trade_date

),

{% if is_incremental() and run_window_is_set() and run_window_start() != '' %}
earlier_totals as (

    -- the days before the window, as this table already holds them
    select
        trade_date,
        securities_count,
        securities_with_short_count,
        securities_with_unknown_short_balance_count,
        short_balance_cny,
        short_volume_shares,
        short_sell_volume_shares,
        financing_balance_cny,
        financing_buy_cny,
        margin_total_cny,
        float_market_cap_cny,
        short_to_float_ratio,
        financing_to_float_ratio,
        margin_to_float_ratio,
    from {{ this }}
    where trade_date < date '{{ run_window_start() }}'

),

totals as (

    select * from window_totals
    union all by name
    select * from earlier_totals

),
{% else %}
totals as (

    select * from window_totals

),
{% endif %}

with_calendar as (

    select
        totals.*,
        calendar.trading_day_index,
        calendar.calendar_year,
        calendar.first_trade_date_of_year,
    from totals
    left join calendar using (trade_date)

),

history_columns as (

    select
        *,
        short_balance_cny - first_value(short_balance_cny) over days_back_1
            as short_balance_change_1d_cny,
        short_balance_cny - first_value(short_balance_cny) over days_back_5
            as short_balance_change_5d_cny,
        short_balance_cny - first_value(short_balance_cny) over days_back_20
            as short_balance_change_20d_cny,
        financing_balance_cny - first_value(financing_balance_cny) over days_back_1
            as financing_balance_change_1d_cny,
        max(case when trade_date = first_trade_date_of_year then short_balance_cny end)
            over (partition by calendar_year) as year_start_short_balance_cny,
        max(case when trade_date = first_trade_date_of_year then financing_balance_cny end)
            over (partition by calendar_year) as year_start_financing_balance_cny,
        max(case when trade_date = first_trade_date_of_year then short_to_float_ratio end)
            over (partition by calendar_year) as year_start_short_to_float_ratio,
        max(short_balance_cny) over running as peak_short_balance_cny,
        arg_max(trade_date, short_balance_cny) over running as peak_short_balance_date,
    from with_calendar
    window
        days_back_1 as (
            order by trading_day_index range between 1 preceding and 1 preceding
        ),
        days_back_5 as (
            order by trading_day_index range between 5 preceding and 5 preceding
        ),
        days_back_20 as (
            order by trading_day_index range between 20 preceding and 20 preceding
        ),
        running as (
            order by trade_date rows between unbounded preceding and current row
        )

),

final as (

    select
        cast(trade_date as date) as trade_date,
        cast(securities_count as integer) as securities_count,
        cast(securities_with_short_count as integer) as securities_with_short_count,
        cast(securities_with_unknown_short_balance_count as integer)
            as securities_with_unknown_short_balance_count,
        cast(short_balance_cny as double) as short_balance_cny,
        cast(short_volume_shares as double) as short_volume_shares,
        cast(short_sell_volume_shares as double) as short_sell_volume_shares,
        cast(financing_balance_cny as double) as financing_balance_cny,
        cast(financing_buy_cny as double) as financing_buy_cny,
        cast(margin_total_cny as double) as margin_total_cny,
        cast(float_market_cap_cny as double) as float_market_cap_cny,
        cast(short_to_float_ratio as double) as short_to_float_ratio,
        cast(financing_to_float_ratio as double) as financing_to_float_ratio,
        cast(margin_to_float_ratio as double) as margin_to_float_ratio,
        cast(short_balance_change_1d_cny as double) as short_balance_change_1d_cny,
        cast(short_balance_change_5d_cny as double) as short_balance_change_5d_cny,
        cast(short_balance_change_20d_cny as double) as short_balance_change_20d_cny,
        cast(financing_balance_change_1d_cny as double) as financing_balance_change_1d_cny,
        cast(first_trade_date_of_year as date) as year_start_trade_date,
        cast(year_start_short_balance_cny as double) as year_start_short_balance_cny,
        cast(short_balance_cny - year_start_short_balance_cny as double)
            as short_balance_ytd_change_cny,
        cast(
            short_balance_cny / nullif(year_start_short_balance_cny, 0) - 1 as double
        ) as short_balance_ytd_change_ratio,
        cast(year_start_financing_balance_cny as double)
            as year_start_financing_balance_cny,
        cast(
            financing_balance_cny / nullif(year_start_financing_balance_cny, 0) - 1
            as double
        ) as financing_balance_ytd_change_ratio,
        cast(year_start_short_to_float_ratio as double)
            as year_start_short_to_float_ratio,
        cast(peak_short_balance_cny as double) as peak_short_balance_cny,
        cast(peak_short_balance_date as date) as peak_short_balance_date,
        cast(
            short_balance_cny / nullif(peak_short_balance_cny, 0) - 1 as double
        ) as short_balance_drawdown_ratio,
    from history_columns
    where {{ run_window_filter() }}

)

select * from final
