{#-
    A threshold of seeds/signal_thresholds.csv, as a number, read when the model compiles
    (window frames such as `249 preceding` need a literal). At parse time there is no
    warehouse to read: a placeholder. A name the seed lacks stops the build.
-#}
{% macro signal_threshold(name) -%}
    {%- if not execute -%}
        {{ return(1) }}
    {%- endif -%}
    {%- set thresholds = _signal_thresholds() -%}
    {%- if name not in thresholds -%}
        {{ exceptions.raise_compiler_error(
            "signal_threshold: no row '" ~ name ~ "' in seeds/signal_thresholds.csv (it has "
            ~ (thresholds.keys() | list | sort | join(', ')) ~ "); add it with its source"
        ) }}
    {%- endif -%}
    {{ return(thresholds[name]) }}
{%- endmacro %}

{% macro _signal_thresholds() -%}
    {%- set rows = run_query("select threshold_name, value from " ~ ref('signal_thresholds')) -%}
    {%- set out = {} -%}
    {%- for row in rows -%}
        {%- do out.update({row[0]: row[1]}) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}
