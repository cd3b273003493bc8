{#-
    The trading-day window of a run, in one place.

    Dagster passes the partition range in the environment variables
    MARGIN_WH_WINDOW_START / MARGIN_WH_WINDOW_END (ISO dates, both inclusive); by hand,
    the vars `start_date` / `end_date` do the same and win over the environment. Empty
    both, or `--full-refresh`, mean "everything": a full build. (An environment variable
    re-parses only the files that read it when it changes; changed vars re-parse the
    whole project.)
    Every incremental model filters its inputs with `run_window_filter()` and keeps only
    the window in its output, so refreshing one day rebuilds one day.

    Models whose change columns need history read `lookback_trading_days` trading days
    (var, default 25) before the window: `run_window_filter(lookback_trading_days=...)`.
    The lookback is counted on the trading calendar (int_trading_calendar), not on
    weekdays.

    Tests follow the same window: see get_where_subquery.sql.
-#}

{% macro run_window_start() -%}
    {{ return(_run_window_date('start_date', env_var('MARGIN_WH_WINDOW_START', ''))) }}
{%- endmacro %}

{% macro run_window_end() -%}
    {{ return(_run_window_date('end_date', env_var('MARGIN_WH_WINDOW_END', ''))) }}
{%- endmacro %}

{#- The var, else the environment's value, as an ISO date string ('' when empty);
    anything else is refused. -#}
{% macro _run_window_date(name, from_environment) -%}
    {%- set value = (var(name, '') or from_environment or '') | string | trim -%}
    {%- if value != '' -%}
        {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
            {{ exceptions.raise_compiler_error(
                "var " ~ name ~ " must be an ISO date (YYYY-MM-DD) or empty, got '" ~ value ~ "'"
            ) }}
        {%- endif -%}
        {%- do modules.datetime.date.fromisoformat(value) -%}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{#- True when this run covers a window rather than the whole history. -#}
{% macro run_window_is_set() -%}
    {{ return(not flags.FULL_REFRESH and (run_window_start() != '' or run_window_end() != '')) }}
{%- endmacro %}

{#-
    A SQL boolean: true for the rows of `column` inside the run's window; `true` on a
    full build. No lookback, no reference to other models (usable in tests).
-#}
{% macro run_window_where(column='trade_date') -%}
    {%- set start = run_window_start() -%}
    {%- set end = run_window_end() -%}
    {%- if not run_window_is_set() -%}
        true
    {%- else -%}
        {%- set conditions = [] -%}
        {%- if start != '' -%}
            {%- do conditions.append(column ~ " >= date '" ~ start ~ "'") -%}
        {%- endif -%}
        {%- if end != '' -%}
            {%- do conditions.append(column ~ " <= date '" ~ end ~ "'") -%}
        {%- endif -%}
        ({{ conditions | join(' and ') }})
    {%- endif -%}
{%- endmacro %}

{#-
    A SQL boolean: true for the rows of `column` inside the run's window, extended
    `lookback_trading_days` trading days back; `true` on a full build.
-#}
{% macro run_window_filter(column='trade_date', lookback_trading_days=0) -%}
    {#- ref outside the condition, so dbt records the dependency at parse time -#}
    {%- set calendar = ref('int_trading_calendar') -%}
    {%- set start = run_window_start() -%}
    {%- set end = run_window_end() -%}
    {%- if not run_window_is_set() or start == '' or (lookback_trading_days | int) <= 0 -%}
        {{ run_window_where(column) }}
    {%- else -%}
        ({{ column }} >= coalesce(
            (
                select min(trade_date) from (
                    select trade_date from {{ calendar }}
                    where trade_date < date '{{ start }}'
                    order by trade_date desc
                    limit {{ lookback_trading_days | int }}
                )
            ),
            date '{{ start }}'
        )
        {%- if end != '' %} and {{ column }} <= date '{{ end }}'{% endif %})
    {%- endif -%}
{%- endmacro %}
