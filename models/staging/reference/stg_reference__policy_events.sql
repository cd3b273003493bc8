-- Margin-trading and short-selling policy events (curated seed), one row per event.

with

source as (

    select * from {{ ref('policy_events') }}

),

renamed as (

    select
        cast(event_id as varchar) as event_id,
        cast(announced_date as date) as announced_date,
        cast(effective_date as date) as effective_date,
        cast(second_effective_date as date) as second_effective_date,
        issuer,
        title_zh,
        description_en,
        category,
        lower(trim(short_selling_direction)) as short_selling_direction,
        cast(is_date_confirmed as boolean) as is_date_confirmed,
        source,

    from source

)

select * from renamed
