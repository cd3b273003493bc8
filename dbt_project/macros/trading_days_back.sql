{#-
    `column` as it was exactly `n` trading days earlier for the same security, or null
    when the security has no row on one of those days (lag(n) would otherwise reach
    further back than n trading days). Needs `trading_day_index` and a window named
    `window_name` ordered by trading day within the security.
-#}
{% macro trading_days_back(column, n, window_name='security_days') -%}
case
    when lag(trading_day_index, {{ n }}) over {{ window_name }} = trading_day_index - {{ n }}
        then lag({{ column }}, {{ n }}) over {{ window_name }}
end
{%- endmacro %}
