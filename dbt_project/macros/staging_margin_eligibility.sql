{#-
    The eligible lists of SZSE and BSE (akshare gives BSE's SZSE's column names): one
    macro, the exchange as an argument. A flag is true for 'Y' (as SZSE marks it) or 是;
    the raw contract admits only Y / N / 是 / 否.
-#}
{% macro stg_margin_eligibility(source_table, exchange) %}
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
        {{ _eligibility_flag('"融资标的"') }} as is_financing_eligible,
        {{ _eligibility_flag('"融券标的"') }} as is_short_eligible,
        {{ _eligibility_flag('"当日可融资"') }} as can_finance_today,
        {{ _eligibility_flag('"当日可融券"') }} as can_short_today,
        _source as data_source,
        _fetched_at as fetched_at,

    from source

)

select * from renamed
{% endmacro %}

{% macro _eligibility_flag(column) -%}
    (trim({{ column }}) in ('Y', '是'))
{%- endmacro %}
