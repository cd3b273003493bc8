{#- A security's code as the warehouse keys it: a BSE stock's code from its switch to a
    920xxx code (seed bse_code_switch) on every day, before the switch too, so that its
    history is one series; any other code as it is. Applied where staging reads a code
    from a source that carries BSE stocks (margin detail, eligible list, quotes,
    Shenwan industries): from there on, every model sees the new code only. -#}
{% macro security_code_across_bse_switch(code) -%}
    coalesce(
        (
            select switch.security_code
            from {{ ref('bse_code_switch') }} as switch
            where switch.security_code_before_switch = {{ code }}
        ),
        {{ code }}
    )
{%- endmacro %}
