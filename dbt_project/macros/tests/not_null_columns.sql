{#-
    Every listed column is set on every row: one test where a not_null per column would
    be several (a run pays dbt and Dagster per test node, not per row; the reason the
    grain test primary_key is one node too). For the reference seeds and the columns a
    model must always carry beside its key.
    Fails with one row per incomplete row: the row, and which of the columns are null
    (`null_columns`).
-#}
{% test not_null_columns(model, columns) %}

select
    concat_ws(', '
        {%- for column in columns %}, case when {{ column }} is null then '{{ column }}' end{% endfor -%}
    ) as null_columns,
    *,
from {{ model }}
where {% for column in columns %}{{ column }} is null{% if not loop.last %} or {% endif %}{% endfor %}

{% endtest %}
