{#- Use the configured schema name as is (staging, intermediate, marts, reference),
    not dbt's default "<target>_<schema>", so BI users query marts.<table>. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
