{#-
    The column equals an expression within a tolerance:
        |column - expression| <= relative_tolerance * |expression| + absolute_tolerance
    (the absolute part covers rounding of published figures, the relative part real
    gaps). Rows where either side is null are not compared. Fails with the rows outside
    the tolerance. Use it for identities such as 融券余额 = 融券余量 x close.
-#}
{% test equals_within_tolerance(
    model, column_name, expression, relative_tolerance=0, absolute_tolerance=0
) %}

with

compared as (

    select
        *,
        {{ column_name }} as actual_value,
        {{ expression }} as expected_value,
    from {{ model }}

)

select *
from compared
where actual_value is not null
    and expected_value is not null
    and abs(actual_value - expected_value)
        > {{ relative_tolerance }} * abs(expected_value) + {{ absolute_tolerance }}

{% endtest %}
