{#-
    SZSE and BSE publish margin data in the same shape (akshare gives BSE's the SZSE
    column names): one macro per table, with what differs between them as arguments.
-#}

{#- Per-security detail: no date column (trade_date comes from the request), no
    repayments, the short balance published in CNY. -#}
{% macro stg_margin_detail_szse_like(source_table, exchange) %}
with

source as (

    select * from {{ source('raw', source_table) }}

),

renamed as (

    select
        cast(trade_date as date) as trade_date,
        '{{ exchange }}' as exchange,
        {{ _szse_like_security_code(exchange) }} as security_code,
        trim("证券简称") as security_name,
        cast("融资余额" as double) as financing_balance_cny,
        cast("融资买入额" as double) as financing_buy_cny,
        cast("融券余量" as double) as short_volume_shares,
        cast("融券卖出量" as double) as short_sell_volume_shares,
        cast("融券余额" as double) as short_balance_cny,
        cast("融资融券余额" as double) as margin_total_cny,
        _source as data_source,
        _fetched_at as fetched_at,

    from source

)

select * from renamed
{% endmacro %}

{#- Exchange totals; `units_per_value` converts the published unit to CNY and shares
    (SZSE publishes 亿 = 1e8, BSE 万 = 1e4). -#}
{% macro stg_margin_summary_szse_like(source_table, exchange, units_per_value) %}
with

source as (

    select * from {{ source('raw', source_table) }}

),

renamed as (

    select
        cast(trade_date as date) as trade_date,
        '{{ exchange }}' as exchange,
        cast("融资余额" as double) * {{ units_per_value }} as financing_balance_cny,
        cast("融资买入额" as double) * {{ units_per_value }} as financing_buy_cny,
        cast("融券余量" as double) * {{ units_per_value }} as short_volume_shares,
        cast("融券余额" as double) * {{ units_per_value }} as short_balance_cny,
        cast("融券卖出量" as double) * {{ units_per_value }} as short_sell_volume_shares,
        cast("融资融券余额" as double) * {{ units_per_value }} as margin_total_cny,
        _source as data_source,
        _fetched_at as fetched_at,

    from source

)

select * from renamed
{% endmacro %}

{#- The code as published; a BSE stock's code across its switch to 920xxx (the macro
    security_code_across_bse_switch). SZSE has no such switch. -#}
{% macro _szse_like_security_code(exchange) -%}
    {%- set published = "lpad(trim(cast(\"证券代码\" as varchar)), 6, '0')" -%}
    {%- if exchange == 'BSE' -%}
        {{ security_code_across_bse_switch(published) }}
    {%- else -%}
        {{ published }}
    {%- endif -%}
{%- endmacro %}
