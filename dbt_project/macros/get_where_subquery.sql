{#-
    Tests on the daily incremental models follow the run's trading-day window.

    dbt wraps the model of every generic test in get_where_subquery (that is how the
    `where` test config works). When a run has a window (see
    run_window.sql), a generic test on an incremental model keyed on trade_date
    checks only the rows of that window: the days the run just rewrote, since the
    other days are untouched. A one-day refresh then tests one day, not the history.
    Full builds (no window, or --full-refresh) test everything. A test's own `where`
    config still applies.
-#}
{% macro duckdb__get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- if execute and run_window_is_set() and _tested_model_is_daily() -%}
        {%- do conditions.append(run_window_where('trade_date')) -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- True when the generic test being run is attached to a daily model on trade_date. -#}
{% macro _tested_model_is_daily() -%}
    {%- set attached = model.get('attached_node') if model is mapping else none -%}
    {%- if not attached or attached not in graph.nodes -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set node = graph.nodes[attached] -%}
    {#- Incremental marts keyed on trade_date, and views over daily data (staging,
        intermediate): the rows a run can have changed are the window's. -#}
    {{ return(
        (node.config.materialized == 'incremental' and node.config.get('unique_key') == 'trade_date')
        or (node.config.materialized == 'view' and 'trade_date' in node.columns)
    ) }}
{%- endmacro %}
