{#- The exchange of a Sina symbol ('sh600000', 'sz159915', 'bj830799'), by its prefix. -#}
{% macro exchange_of_sina_symbol(symbol) -%}
    case left(lower(trim({{ symbol }})), 2)
        when 'sh' then 'SSE'
        when 'sz' then 'SZSE'
        when 'bj' then 'BSE'
    end
{%- endmacro %}
