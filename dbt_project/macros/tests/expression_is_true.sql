{#-
    A boolean SQL expression holds on every row (rows where it is null are not
    counted as failures). Fails with the rows where it is false.
-#}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
where not coalesce(({{ expression }}), true)

{% endtest %}
