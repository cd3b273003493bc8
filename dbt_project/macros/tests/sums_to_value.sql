{#-
    Within each group the column sums to `expected` (default 1) within `tolerance`.
    Groups where every value is null are not checked (e.g. no short balance that day).
    Fails with the groups whose sum is off.
-#}
{% test sums_to_value(model, column_name, group_by, expected=1, tolerance=0.000001) %}

{%- set group_csv = group_by | join(', ') %}

with

sums as (

    select
        {{ group_csv }},
        sum({{ column_name }}) as total,
        count({{ column_name }}) as non_null_count,
    from {{ model }}
    group by {{ group_csv }}

)

select *
from sums
where non_null_count > 0
    and abs(total - {{ expected }}) > {{ tolerance }}

{% endtest %}
