-- Shenwan 2021 industry classification history, one row per security and start date.
-- industry_code is the 6-digit level-3 code; level 1 = first 2 digits + '0000',
-- level 2 = first 4 digits + '00'.

with

source as (

    select * from {{ source('raw', 'stock_industry_clf_hist_sw') }}

),

renamed as (

    select
        {{ security_code_across_bse_switch(
            "right(lpad(regexp_replace(trim(cast(symbol as varchar)), '[^0-9]', '', 'g'), 6, '0'), 6)"
        ) }} as security_code,
        cast(start_date as date) as start_date,
        lpad(trim(cast(industry_code as varchar)), 6, '0') as sw_l3_code,
        left(lpad(trim(cast(industry_code as varchar)), 6, '0'), 4) || '00' as sw_l2_code,
        left(lpad(trim(cast(industry_code as varchar)), 6, '0'), 2) || '0000' as sw_l1_code,
        cast(update_time as date) as updated_date,
        _source as data_source,
        _fetched_at as fetched_at,

    from source

)

select * from renamed
