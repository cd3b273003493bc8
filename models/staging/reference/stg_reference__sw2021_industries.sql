-- Shenwan 2021 level-1 and level-2 industries (curated seed), with English names.

with

source as (

    select * from {{ ref('sw2021_industries') }}

),

renamed as (

    select
        lpad(trim(cast(industry_code as varchar)), 6, '0') as industry_code,
        cast(industry_level as integer) as industry_level,
        trim(industry_name_zh) as industry_name_zh,
        trim(industry_name_en) as industry_name_en,
        nullif(lpad(trim(cast(parent_code as varchar)), 6, '0'), '000000') as parent_code,

    from source

)

select * from renamed
