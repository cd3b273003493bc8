-- The SSE trading calendar (Sina), one row per trading day since 1990.

with

source as (

    select * from {{ source('raw', 'tool_trade_date_hist_sina') }}

),

renamed as (

    select distinct
        cast(trade_date as date) as trade_date,

    from source
    where trade_date is not null

)

select * from renamed
