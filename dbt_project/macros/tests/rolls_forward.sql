{#-
    Balance roll-forward: balance = previous balance + inflow - outflow, within
    `tolerance`, where previous balance is the same entity's row on the previous
    trading day (from `calendar`, which has trade_date and previous_trade_date). Rows
    whose previous trading day is missing for the entity are not checked.
    e.g. 融资余额(T) = 融资余额(T-1) + 融资买入额(T) - 融资偿还额(T).
-#}
{% test rolls_forward(
    model, column_name, inflow, outflow, partition_by, calendar,
    date_column='trade_date', tolerance=0
) %}

{%- set partition_csv = partition_by | join(', ') %}

with

rows_with_previous as (

    select
        {{ partition_csv }},
        model_rows.{{ date_column }},
        {{ column_name }} as balance,
        {{ inflow }} as inflow,
        {{ outflow }} as outflow,
        calendar_rows.previous_trade_date,
        lag(model_rows.{{ date_column }}) over entity_days as previous_row_date,
        lag({{ column_name }}) over entity_days as previous_balance,
    from (select * from {{ model }}) as model_rows
    left join {{ calendar }} as calendar_rows
        on model_rows.{{ date_column }} = calendar_rows.trade_date
    window entity_days as (
        partition by {{ partition_csv }} order by model_rows.{{ date_column }}
    )

)

select
    *,
    previous_balance + inflow - outflow as expected_balance,
from rows_with_previous
where previous_row_date = previous_trade_date
    and balance is not null
    and inflow is not null
    and outflow is not null
    and abs(balance - (previous_balance + inflow - outflow)) > {{ tolerance }}

{% endtest %}
