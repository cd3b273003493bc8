-- Each exchange's published margin totals beside the sums of its per-security detail,
-- one row per trading day x exchange. difference = detail sum - published total;
-- difference_ratio = difference / published total. Since 2014-09-22 the published
-- totals also include securities removed from the eligible list, so small negative
-- differences are real, not errors. SSE's detail short balance is derived (short
-- volume x close), its published one is 融券余量金额.

{%- set measures = [
    'financing_balance_cny',
    'financing_buy_cny',
    'short_volume_shares',
    'short_sell_volume_shares',
    'short_balance_cny',
    'margin_total_cny',
] %}

with

published as (

    select * from {{ ref('stg_akshare__margin_summary_sse') }}
    where {{ run_window_filter() }}
    union all by name
    select * from {{ ref('stg_akshare__margin_summary_szse') }}
    where {{ run_window_filter() }}
    union all by name
    select * from {{ ref('stg_akshare__margin_summary_bse') }}
    where {{ run_window_filter() }}

),

detail as (

    select * from {{ ref('int_margin_detail_unified') }}
    where {{ run_window_filter() }}

),

detail_sums as (

    select
        trade_date,
        exchange,
        count(*) as securities_count,
        count(*) filter (where short_volume_shares > 0) as securities_with_short_count,
        count(*) filter (where short_balance_cny is null)
            as securities_with_unknown_short_balance_count,
        {%- for measure in measures %}
        {%- if measure == 'margin_total_cny' %}
        -- An SSE security whose short balance cannot be valued yet (no close loaded: it has
        -- been suspended since before the warehouse's first day) still counts its
        -- financing balance, as the short balance sum leaves out what it cannot value.
        sum(coalesce(margin_total_cny, financing_balance_cny)) as margin_total_cny,
        {%- else %}
        sum({{ measure }}) as {{ measure }},
        {%- endif %}
        {%- endfor %}
    from detail
    group by trade_date, exchange

),

compared as (

    select
        coalesce(published.trade_date, detail_sums.trade_date) as trade_date,
        coalesce(published.exchange, detail_sums.exchange) as exchange,
        published.trade_date is not null as has_published_totals,
        detail_sums.trade_date is not null as has_detail,
        coalesce(detail_sums.securities_count, 0) as securities_count,
        coalesce(detail_sums.securities_with_short_count, 0) as securities_with_short_count,
        coalesce(detail_sums.securities_with_unknown_short_balance_count, 0)
            as securities_with_unknown_short_balance_count,
        {%- for measure in measures %}
        {%- set stem = measure.rsplit('_', 1)[0] %}
        {%- set unit = measure.rsplit('_', 1)[1] %}
        published.{{ measure }} as published_{{ measure }},
        detail_sums.{{ measure }} as detail_{{ measure }},
        -- rounded to 0.01: the sums carry floating-point noise around exact matches
        round(detail_sums.{{ measure }} - published.{{ measure }}, 2)
            as {{ stem }}_difference_{{ unit }},
        round(detail_sums.{{ measure }} - published.{{ measure }}, 2)
            / nullif(published.{{ measure }}, 0) as {{ stem }}_difference_ratio,
        {%- endfor %}
    from published
    full outer join detail_sums
        on published.trade_date = detail_sums.trade_date
        and published.exchange = detail_sums.exchange

),

final as (

    select
        cast(trade_date as date) as trade_date,
        cast(exchange as varchar) as exchange,
        cast(has_published_totals as boolean) as has_published_totals,
        cast(has_detail as boolean) as has_detail,
        cast(securities_count as integer) as securities_count,
        cast(securities_with_short_count as integer) as securities_with_short_count,
        cast(securities_with_unknown_short_balance_count as integer)
            as securities_with_unknown_short_balance_count,
        {%- for measure in measures %}
        {%- set stem = measure.rsplit('_', 1)[0] %}
        {%- set unit = measure.rsplit('_', 1)[1] %}
        cast(published_{{ measure }} as double) as published_{{ measure }},
        cast(detail_{{ measure }} as double) as detail_{{ measure }},
        cast({{ stem }}_difference_{{ unit }} as double) as {{ stem }}_difference_{{ unit }},
        cast({{ stem }}_difference_ratio as double) as {{ stem }}_difference_ratio,
        {%- endfor %}
    from compared

)

select * from final
