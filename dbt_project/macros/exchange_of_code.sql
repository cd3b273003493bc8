{#- The exchange of a 6-digit A-share code, by board prefix (as margin_wh.sources.datasets.sina_symbol):
    BSE 4xxxxx, 8xxxxx, 92xxxx; SSE 5xxxxx, 6xxxxx, 9xxxxx; SZSE the rest (0, 2, 3). -#}
{% macro exchange_of_code(code) -%}
    case
        when left({{ code }}, 1) in ('4', '8') or left({{ code }}, 2) = '92' then 'BSE'
        when left({{ code }}, 1) in ('5', '6', '9') then 'SSE'
        else 'SZSE'
    end
{%- endmacro %}
