{#-
    Grain test: every key column is set, and no two rows share the key. The one grain
    test of the project, on views (which cannot hold constraints) as on tables (whose
    contracts already make the key columns NOT NULL: there the null check costs nothing).
    One test where a not_null per key column and a uniqueness test would be three or
    four: a one-day refresh pays dbt and Dagster per test node (BENCHMARKS.md), not per
    row.
    Fails with one row per bad key: the key, how many rows have it, and why
    (`null key column` or `duplicate key`).
-#}
{% test primary_key(model, columns) %}

{%- set columns_csv = columns | join(', ') %}

with

keys as (

    select
        {{ columns_csv }},
        count(*) as row_count,
    from {{ model }}
    group by {{ columns_csv }}

)

select
    *,
    case
        when {% for column in columns %}{{ column }} is null{% if not loop.last %} or {% endif %}{% endfor %}
            then 'null key column'
        else 'duplicate key'
    end as failure_reason,
from keys
where row_count > 1
    {%- for column in columns %}
    or {{ column }} is null
    {%- endfor %}

{% endtest %}
