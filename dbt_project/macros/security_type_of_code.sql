{#- 'fund' for the ETFs, LOFs and closed-end funds on the margin lists, 'stock' for the
    rest, by code (as margin_wh.sources.datasets.security_type): SSE 5xxxxx, SZSE 15xxxx,
    16xxxx and 18xxxx. -#}
{% macro security_type_of_code(code) -%}
    case
        when left({{ code }}, 1) = '5' or left({{ code }}, 2) in ('15', '16', '18') then 'fund'
        else 'stock'
    end
{%- endmacro %}

{#- The industry bucket of a row with no Shenwan industry: funds have their own, stocks
    not yet classified fall into 'unknown'. -#}
{% macro unclassified_industry() -%}
    case when security_type = 'fund' then 'fund' else 'unknown' end
{%- endmacro %}
