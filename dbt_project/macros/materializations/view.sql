{#-
    Views are replaced in one statement, with dbt's own create_or_replace_view (the view
    materialization of BigQuery and Snowflake). DuckDB's CREATE OR REPLACE VIEW is
    atomic, so a reader sees the old view or the new one, never none. dbt's default view
    materialization instead creates a temporary view, renames the old one away, renames
    the new one in and drops the old: four DDL statements and three more adapter macro
    calls, each of which costs dbt a fresh macro context. The daily refresh re-creates
    every staging and intermediate view: its upstream step went from 2.46 to 2.06 s
    (BENCHMARKS.md). A table of the view's name (the model was a table before) is dropped
    first (dbt's handle_existing_table).
-#}
{% materialization view, adapter='duckdb' %}
  {%- set relations = create_or_replace_view() -%}
  {% do persist_docs(this.incorporate(type='view'), model) %}
  {{ adapter.commit() }}
  {{ return(relations) }}
{% endmaterialization %}


{#- dbt-duckdb's create_view_as (adapters.sql) with OR REPLACE, which
    create_or_replace_view expects of the adapter. -#}
{% macro duckdb__create_view_as(relation, sql) -%}
  {% set contract_config = config.get('contract') %}
  {% if contract_config.enforced %}
    {{ get_assert_columns_equivalent(sql) }}
  {%- endif %}
  {%- set sql_header = config.get('sql_header', none) -%}

  {{ sql_header if sql_header is not none }}
  create or replace view {{ relation }} as (
    {{ sql }}
  );
{% endmacro %}
