{#- A security's code as the warehouse keys it: a BSE stock's code from its switch to a
    920xxx code (seed bse_code_switch) on every day, before the switch too, so that its
    history is one series; any other code as it is. Applied where staging reads a code
    from a source that carries BSE stocks (margin detail, eligible list, quotes,
    Shenwan industries), and in the tests that recompute the marts from raw: from there
    on, every model sees the new code only.

    The pairs are read from the seed when the model compiles and written into the SQL as
    two list constants (the old codes, the new codes at the same positions), looked at
    only for codes in BSE's old ranges (4xxxxx, 8xxxxx): a lookup subquery per row would
    be a join in every place the code is read, and inside a join condition or NOT EXISTS
    it multiplied a ten-year recomputation test past the disk. Not a CASE with a branch
    per pair: DuckDB binds and optimizes each branch wherever the expression appears
    (many times over in a recomputation test), and that planning, not the rows, was most
    of a small run's test time. -#}
{% macro security_code_across_bse_switch(code) -%}
    {%- set seed = ref('bse_code_switch') -%}
    {%- if execute -%}
        {%- set pairs = run_query(
            "select security_code_before_switch, security_code from " ~ seed ~ " order by 1"
        ).rows -%}
        case when left({{ code }}, 1) in ('4', '8') then coalesce([
        {%- for before, after in pairs %}'{{ after }}'{% if not loop.last %}, {% endif %}{% endfor -%}
        ][list_position([
        {%- for before, after in pairs %}'{{ before }}'{% if not loop.last %}, {% endif %}{% endfor -%}
        ], {{ code }})], {{ code }}) else {{ code }} end
    {%- else -%}
        {{ code }}
    {%- endif -%}
{%- endmacro %}
