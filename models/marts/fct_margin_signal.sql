-- Margin signals for analysts (融资融券异动信号), one row per trading day x security x
-- signal: sell-side research's event-driven cases (涨幅异动与融券关联个股) and the
-- common margin-monitoring threshold alerts (典型阈值预警). Information, never a failed run: no test fails on a
-- signal. Every threshold comes from seeds/signal_thresholds.csv (value and threshold
-- columns carry the figure compared and the level it crossed). A signal needs the data
-- it compares: none fires on a security's first day or without the days it looks back
-- on (the trading-day lags are null then). Level alerts (financing to float, weekly short
-- growth) fire on the day the level is crossed, not on every day above it.
-- depends_on: {{ ref('signal_thresholds') }}

{%- set material_cny = signal_threshold('short_material_balance_cny') %}
{%- set cleared_remaining = signal_threshold('short_cleared_max_remaining_ratio') %}
{%- set squeeze_drop = signal_threshold('short_squeeze_min_drop_ratio') %}
{%- set history_days = signal_threshold('financing_high_history_trading_days') | int %}
{%- set float_high = signal_threshold('financing_to_float_high_ratio') %}
{%- set growth_ratio = signal_threshold('short_growth_weekly_ratio') %}
{%- set growth_days = signal_threshold('short_growth_window_trading_days') | int %}
{%- set windowed = is_incremental() and run_window_is_set() and run_window_start() != '' %}

with

calendar as (

    select trade_date, trading_day_index from {{ ref('int_trading_calendar') }}

),

balances as (

    select
        balances.trade_date,
        balances.security_code,
        balances.exchange,
        balances.security_name,
        balances.security_type,
        balances.short_volume_shares,
        balances.short_balance_cny,
        balances.financing_balance_cny,
        balances.financing_to_float_ratio,
        balances.close_cny,
        balances.close_change_1d_ratio,
        calendar.trading_day_index,
    from {{ ref('fct_balance_to_float') }} as balances
    inner join calendar using (trade_date)
    where {{ run_window_filter('balances.trade_date', lookback_trading_days=history_days + 1) }}

),

earlier_financing as (

    -- a record high compares with every earlier day: those before the lookback, summed up
    {%- if windowed %}
    select
        security_code,
        max(financing_balance_cny) as max_financing_cny,
        count(*) as days_count,
    from {{ ref('fct_balance_to_float') }}
    where trade_date < date '{{ run_window_start() }}'
        and not {{ run_window_filter('trade_date', lookback_trading_days=history_days + 1) }}
    group by security_code
    {%- else %}
    select
        cast(null as varchar) as security_code,
        cast(null as double) as max_financing_cny,
        cast(0 as bigint) as days_count,
    where false
    {%- endif %}

),

measured as (

    select
        balances.*,
        {{ trading_days_back('short_volume_shares', 1) }} as short_volume_before_shares,
        {{ trading_days_back('short_balance_cny', 1) }} as short_balance_before_cny,
        {{ trading_days_back('short_balance_cny', growth_days) }} as short_balance_week_before_cny,
        {{ trading_days_back('short_balance_cny', growth_days + 1) }}
            as short_balance_week_before_yesterday_cny,
        {{ trading_days_back('financing_to_float_ratio', 1) }} as financing_to_float_before_ratio,
        max(financing_balance_cny) over prior_days as recent_max_financing_cny,
        count(*) over prior_days as recent_days_count,
        max(financing_balance_cny) over prior_year as year_max_financing_cny,
        count(*) over prior_year as year_days_count,
    from balances
    window
        security_days as (partition by security_code order by trading_day_index),
        prior_days as (
            partition by security_code order by trading_day_index
            rows between unbounded preceding and 1 preceding
        ),
        prior_year as (
            partition by security_code order by trading_day_index
            range between {{ history_days - 1 }} preceding and 1 preceding
        )

),

flagged as (

    select
        measured.*,
        coalesce(earlier.days_count, 0) + measured.recent_days_count as days_before_count,
        greatest(
            coalesce(earlier.max_financing_cny, 0), coalesce(measured.recent_max_financing_cny, 0)
        ) as max_financing_before_cny,
        case
            when measured.security_name like '%ST%' then {{ signal_threshold('price_limit_st_ratio') }}
            when measured.exchange = 'BSE' then {{ signal_threshold('price_limit_bse_ratio') }}
            when left(measured.security_code, 3) in ('300', '301', '688', '689')
                then {{ signal_threshold('price_limit_growth_board_ratio') }}
            else {{ signal_threshold('price_limit_main_board_ratio') }}
        end as price_limit_ratio,
        case when measured.security_type = 'fund' then 0.001 else 0.01 end as tick_cny,
    from measured
    left join earlier_financing as earlier using (security_code)
    where {{ run_window_where('measured.trade_date') }}

),

days as (

    select
        *,
        -- at the daily limit: the close within half a tick of the limit price, which the
        -- exchange rounds to the tick from the previous close (so +9.99 % or +10.06 %)
        coalesce(
            close_cny >= round(
                close_cny / (1 + close_change_1d_ratio) * (1 + price_limit_ratio) / tick_cny
            ) * tick_cny - tick_cny / 2,
            false
        ) as is_limit_up,
        1 - short_volume_shares / nullif(short_volume_before_shares, 0) as short_drop_ratio,
    from flagged

),

signals as (

    select *, 'short_cleared' as signal_type,
        short_volume_shares / short_volume_before_shares as value,
        {{ cleared_remaining }} as threshold,
    from days
    where short_balance_before_cny >= {{ material_cny }}
        and short_volume_before_shares > 0
        and short_volume_shares <= {{ cleared_remaining }} * short_volume_before_shares

    union all

    select *, 'short_squeeze' as signal_type, short_drop_ratio as value,
        {{ squeeze_drop }} as threshold,
    from days
    where is_limit_up
        and short_balance_before_cny >= {{ material_cny }}
        and short_drop_ratio >= {{ squeeze_drop }}

    union all

    -- highest ever, once the security has the history that makes "ever" mean something
    select *, 'financing_record_high' as signal_type, financing_balance_cny as value,
        max_financing_before_cny as threshold,
    from days
    where days_before_count >= {{ history_days - 1 }}
        and financing_balance_cny > max_financing_before_cny

    union all

    -- highest of the last year (a full year of rows), when not also a record
    select *, 'financing_one_year_high' as signal_type, financing_balance_cny as value,
        year_max_financing_cny as threshold,
    from days
    where year_days_count = {{ history_days - 1 }}
        and financing_balance_cny > year_max_financing_cny
        and not (days_before_count >= {{ history_days - 1 }}
            and financing_balance_cny > max_financing_before_cny)

    union all

    select *, 'financing_to_float_high' as signal_type, financing_to_float_ratio as value,
        {{ float_high }} as threshold,
    from days
    where financing_to_float_ratio > {{ float_high }}
        and financing_to_float_before_ratio <= {{ float_high }}

    union all

    select *, 'short_growth_weekly' as signal_type,
        short_balance_cny / short_balance_week_before_cny - 1 as value,
        {{ growth_ratio }} as threshold,
    from days
    where short_balance_week_before_cny >= {{ material_cny }}
        and short_balance_cny / short_balance_week_before_cny - 1 >= {{ growth_ratio }}
        -- crossed today: yesterday's weekly growth known and below the level
        and short_balance_before_cny is not null
        and short_balance_week_before_yesterday_cny is not null
        and not (
            short_balance_week_before_yesterday_cny >= {{ material_cny }}
            and short_balance_before_cny / short_balance_week_before_yesterday_cny - 1
                >= {{ growth_ratio }}
        )

),

removals as (

    -- off the 融券 list (sell-side research's 融券通道关闭): value is the short volume
    -- still outstanding that day
    select
        events.trade_date,
        events.security_code,
        events.exchange,
        days.security_name,
        'short_removed' as signal_type,
        days.short_volume_shares as value,
        cast(null as double) as threshold,
        days.close_change_1d_ratio,
        coalesce(days.is_limit_up, false) as is_limit_up,
    from {{ ref('fct_margin_eligibility_event') }} as events
    left join days using (trade_date, security_code)
    where events.event_type = 'short_removed'
        and {{ run_window_where('events.trade_date') }}

),

unioned as (

    select
        trade_date, security_code, exchange, security_name, signal_type, value, threshold,
        close_change_1d_ratio, is_limit_up,
    from signals
    union all
    select * from removals

),

final as (

    select
        cast(trade_date as date) as trade_date,
        cast(security_code as varchar) as security_code,
        cast(exchange as varchar) as exchange,
        cast(security_name as varchar) as security_name,
        cast(signal_type as varchar) as signal_type,
        cast(value as double) as value,
        cast(threshold as double) as threshold,
        cast(close_change_1d_ratio as double) as close_change_1d_ratio,
        cast(is_limit_up as boolean) as is_limit_up,
    from unioned

)

select * from final
