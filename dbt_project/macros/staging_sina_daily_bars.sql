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
            'measures': [
                ('volume', 'volume_shares'),
                ('amount', 'amount_cny'),
                ('outstanding_share', 'float_shares'),
                ('turnover', 'turnover_ratio'),
            ],
        },
        'fund': {
            'source_table': 'fund_etf_hist_sina',
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
        right(trim(symbol), 6) as security_code,
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

select * from renamed
{% endmacro %}
