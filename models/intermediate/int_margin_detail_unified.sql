-- The margin detail of the three exchanges in one schema, one row per trading day and
-- security, with the close, the float shares and the point-in-time Shenwan industry
-- codes. The industry names stay in stg_reference__sw2021_industries for the marts to
-- join: a text column costs DuckDB far more to store than a number (BENCHMARKS.md).
-- Quotes: int_security_quotes_daily (Sina's history, or the day's closing snapshot).
--
-- Short balance: SZSE and BSE publish it (融券余额, CNY); SSE does not, so for SSE it is
-- short volume x close (融券余量 x 收盘价), a fund's from the fund's own close. The close is the last close on or before
-- the day (an ASOF join): Sina has no row for suspension days, and a suspended
-- security keeps its last close. An incremental run finds a close older than 40 days
-- before its window in the rows this table already holds (the close it carried).

with

sse as (

    select * from {{ ref('stg_akshare__margin_detail_sse') }}
    where {{ run_window_filter() }}

),

szse as (

    select * from {{ ref('stg_akshare__margin_detail_szse') }}
    where {{ run_window_filter() }}

),

bse as (

    select * from {{ ref('stg_akshare__margin_detail_bse') }}
    where {{ run_window_filter() }}

),

{#- An incremental run reads the quotes of its window and of the 40 calendar days before
    it, plus each security's close as this table last carried it (for suspensions longer
    than that), so a one-day refresh does not sort the whole quote history. -#}
{%- set carry_quotes = is_incremental() and run_window_is_set() and run_window_start() != '' %}
{%- set quotes_from = "date '" ~ run_window_start() ~ "' - interval 40 day" %}

quotes as (

    select trade_date, security_code, close_cny, float_shares,
    from {{ ref('int_security_quotes_daily') }}
    where close_cny is not null
    {%- if run_window_is_set() and run_window_end() != '' %}
        and trade_date <= date '{{ run_window_end() }}'
    {%- endif %}
    {%- if carry_quotes %}
        and trade_date >= {{ quotes_from }}

    union all

    select close_trade_date as trade_date, security_code, close_cny, float_shares,
    from {{ this }}
    where trade_date < date '{{ run_window_start() }}'
        and trade_date >= {{ quotes_from }}
        and close_cny is not null
    qualify row_number() over (partition by security_code order by trade_date desc) = 1
    {%- endif %}

),

industry as (

    select * from {{ ref('int_security_industry_history') }}

),

detail as (

    select
        trade_date,
        exchange,
        security_code,
        security_name,
        financing_balance_cny,
        financing_buy_cny,
        financing_repay_cny,
        short_volume_shares,
        short_sell_volume_shares,
        short_repay_volume_shares,
        cast(null as double) as published_short_balance_cny,
        cast(null as double) as published_margin_total_cny,
    from sse

    union all

    select
        trade_date,
        exchange,
        security_code,
        security_name,
        financing_balance_cny,
        financing_buy_cny,
        cast(null as double) as financing_repay_cny,
        short_volume_shares,
        short_sell_volume_shares,
        cast(null as double) as short_repay_volume_shares,
        short_balance_cny as published_short_balance_cny,
        margin_total_cny as published_margin_total_cny,
    from (
        -- SZSE and BSE publish the same table
        select * from szse
        union all
        select * from bse
    ) as szse_like

),

with_quotes as (

    select
        detail.*,
        quotes.trade_date as close_trade_date,
        quotes.close_cny,
        quotes.float_shares,
    from detail
    asof left join quotes
        on detail.security_code = quotes.security_code
        and detail.trade_date >= quotes.trade_date

),

with_industry as (

    select
        with_quotes.*,
        industry.sw_l1_code,
        industry.sw_l2_code,
    from with_quotes
    -- intervals do not overlap: at most one match (cheaper than an ASOF join here)
    left join industry
        on with_quotes.security_code = industry.security_code
        and with_quotes.trade_date >= industry.valid_from
        and (industry.valid_to is null or with_quotes.trade_date < industry.valid_to)

),

derived as (

    select
        *,
        case
            when published_short_balance_cny is not null then published_short_balance_cny
            when short_volume_shares = 0 then 0
            else short_volume_shares * close_cny
        end as short_balance_cny,
        published_short_balance_cny is null as is_short_balance_derived,
        close_cny * float_shares as float_market_cap_cny,
    from with_industry

),

final as (

    select
        trade_date,
        exchange,
        security_code,
        security_name,
        financing_balance_cny,
        financing_buy_cny,
        financing_repay_cny,
        short_volume_shares,
        short_sell_volume_shares,
        short_repay_volume_shares,
        short_balance_cny,
        is_short_balance_derived,
        published_short_balance_cny,
        coalesce(
            published_margin_total_cny, financing_balance_cny + short_balance_cny
        ) as margin_total_cny,
        close_cny,
        close_trade_date,
        float_shares,
        float_market_cap_cny,
        sw_l1_code,
        sw_l2_code,
        {{ security_type_of_code('security_code') }} as security_type,
    from derived

)

select * from final
