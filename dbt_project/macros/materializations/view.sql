{#-
    Views are replaced in one statement. DuckDB's CREATE OR REPLACE VIEW is atomic, so a
    reader sees the old view or the new one, never none. dbt's default view
    materialization instead creates a temporary view, renames the old one away, renames
    the new one in and drops the old: four DDL statements and three more adapter macro
    calls, each of which costs dbt a fresh macro context. That was most of a view node's
    time in the daily refresh, which re-creates every staging and intermediate view
    (BENCHMARKS.md). Grants, docs and hooks as in dbt's default.
-#}
{% materialization view, adapter='duckdb' %}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type='view') -%}
  {%- set grant_config = config.get('grants') -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  -- `BEGIN` happens here:
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {#- a table of the same name (the model was a table before): OR REPLACE cannot replace it -#}
  {% if existing_relation is not none and not existing_relation.is_view %}
    {{ adapter.drop_relation(existing_relation) }}
  {% endif %}

  {% call statement('main') -%}
    {{ get_create_view_as_sql(target_relation, sql) }}
  {%- endcall %}

  {% set should_revoke = should_revoke(existing_relation, full_refresh_mode=True) %}
  {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke) %}
  {% do persist_docs(target_relation, model) %}
  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}


{#- dbt-duckdb's create_view_as (adapters.sql), with OR REPLACE: used by the view
    materialization above on the view's own name. -#}
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
