{#-
    Post-hook of every mart: the not-null and check constraints its contract declares
    (the YAML file beside the mart) must exist on the table just built. DuckDB adds
    constraints only when it creates a table, so an incremental mart built before a
    constraint was declared would silently go without it (those rules are not dbt tests).
    Fails the model with the missing constraints and the fix. Renders no SQL.
-#}
{% macro assert_constraints_in_place() %}
    {%- if execute and model.config.contract.enforced -%}
        {%- set declared = [] -%}
        {%- for column in model.columns.values() -%}
            {%- for constraint in column.constraints -%}
                {%- do declared.append(column.name ~ ' ' ~ (constraint.type | replace('_', ' ') | upper)) -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- if declared -%}
            {%- set rows = run_query(
                "select unnest(constraint_column_names) || ' ' || constraint_type "
                ~ "from duckdb_constraints() where database_name = '" ~ this.database
                ~ "' and schema_name = '" ~ this.schema
                ~ "' and table_name = '" ~ this.identifier ~ "'"
            ) -%}
            {%- set present = rows.columns[0].values() -%}
            {%- set missing = [] -%}
            {%- for item in declared if item not in present -%}
                {%- do missing.append(item) -%}
            {%- endfor -%}
            {%- if missing -%}
                {{ exceptions.raise_compiler_error(
                    this ~ " lacks the constraints its contract declares: " ~ missing | join(', ')
                    ~ ". The table was built before they were declared; rebuild it with "
                    ~ "`margin-wh dbt -- build --full-refresh --select " ~ this.identifier ~ "`."
                ) }}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
