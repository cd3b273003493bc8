{#-
    Sina's daily bars of stocks and of funds (ETFs, LOFs) come in the same shape: one
    macro, and what differs between the two in one table. Columns keep their order:
    the keys, the open/high/low/close prices, then the kind's own measures, then the
    load's lineage.
-#}

{%- macro _sina_daily_bar_kinds() -%}
    {{ return({
        'stock': {
            'source_table': 'stock_zh_a_daily',
            'bse_code_switch': true,
            'measures': [
                ('volume', 'volume_shares'),
                ('amount', 'amount_cny'),
                ('outstanding_share', 'float_shares'),
                ('turnover', 'turnover_ratio'),
            ],
        },
        'fund': {
            'source_table': 'fund_etf_hist_sina',
            'bse_code_switch': false,
            'measures': [
                ('volume', 'volume_units'),
            ],
        },
    }) }}
{%- endmacro -%}

{% macro stg_sina_daily_bars(kind) %}
{%- set kinds = _sina_daily_bar_kinds() -%}
{%- if kind not in kinds -%}
    {{ exceptions.raise_compiler_error(
        "stg_sina_daily_bars: no kind '" ~ kind ~ "' (it has " ~ (kinds.keys() | list | sort | join(', ')) ~ ")"
    ) }}
{%- endif -%}
{%- set bars = kinds[kind] %}
with

source as (

    select * from {{ source('raw', bars.source_table) }}

),

renamed as (

    select
        cast(trade_date as date) as trade_date,
        {%- if bars.bse_code_switch %}
        {{ security_code_across_bse_switch('right(trim(symbol), 6)') }} as security_code,
        {%- else %}
        right(trim(symbol), 6) as security_code,
        {%- endif %}
        {{ exchange_of_sina_symbol('symbol') }} as exchange,
        lower(trim(symbol)) as sina_symbol,
        cast(open as double) as open_cny,
        cast(high as double) as high_cny,
        cast(low as double) as low_cny,
        cast(close as double) as close_cny,
        {%- for source_column, name in bars.measures %}
        cast({{ source_column }} as double) as {{ name }},
        {%- endfor %}
        _source as data_source,
        _fetched_at as fetched_at,

    from source

)
{%- if bars.bse_code_switch %},

{#- A BSE stock that switched to a 920xxx code is keyed by its new code on every day
    (security_code_across_bse_switch). Its quotes may have been fetched under both Sina
    symbols (bj83xxxx for the days its margin detail carried the old code, bj920xxx for
    the later ones) with overlapping days: a day Sina serves under the new code is taken
    from there, so no day is counted twice. #}
switched_days_under_new_code as (

    -- (the source again, not the CTE: DuckDB would materialize a CTE used twice)
    select distinct right(trim(symbol), 6) as security_code, cast(trade_date as date) as trade_date,
    from {{ source('raw', bars.source_table) }}
    where right(trim(symbol), 6) in (select security_code from {{ ref('bse_code_switch') }})

),

deduplicated as (

    select renamed.*,
    from renamed
    left join switched_days_under_new_code as under_new_code
        on right(renamed.sina_symbol, 6) <> renamed.security_code  -- a row under the old code
        and renamed.security_code = under_new_code.security_code
        and renamed.trade_date = under_new_code.trade_date
    where under_new_code.trade_date is null

)

select * from deduplicated
{%- else %}

select * from renamed
{%- endif %}
{% endmacro %}
