{#-
    Grain test: no two rows share the same combination of the key columns.
    Fails with one row per duplicated key (the key and how many rows share it).
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

{%- set columns_csv = combination_of_columns | join(', ') %}

with

duplicates as (

    select
        {{ columns_csv }},
        count(*) as row_count,
    from {{ model }}
    group by {{ columns_csv }}
    having count(*) > 1

)

select * from duplicates

{% endtest %}
