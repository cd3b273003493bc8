-- Point-in-time Shenwan 2021 industry per security: one row per security and
-- classification interval [valid_from, valid_to). A day's industry is the row with
-- the latest start date on or before that day: the interval that contains the day.

with

history as (

    select * from {{ ref('stg_akshare__sw_industry_history') }}

),

industries as (

    select * from {{ ref('stg_reference__sw2021_industries') }}

),

latest_per_start as (

    select *
    from history
    where security_code is not null and start_date is not null
    qualify row_number() over (
        partition by security_code, start_date
        order by updated_date desc nulls last, sw_l3_code
    ) = 1

),

intervals as (

    select
        security_code,
        start_date as valid_from,
        lead(start_date) over (
            partition by security_code order by start_date
        ) as valid_to,
        sw_l3_code,
        sw_l2_code,
        sw_l1_code,

    from latest_per_start

),

named as (

    select
        intervals.security_code,
        intervals.valid_from,
        intervals.valid_to,
        intervals.sw_l1_code,
        l1.industry_name_zh as sw_l1_name,
        l1.industry_name_en as sw_l1_name_en,
        intervals.sw_l2_code,
        l2.industry_name_zh as sw_l2_name,
        l2.industry_name_en as sw_l2_name_en,
        intervals.sw_l3_code,

    from intervals
    left join industries as l1
        on intervals.sw_l1_code = l1.industry_code and l1.industry_level = 1
    left join industries as l2
        on intervals.sw_l2_code = l2.industry_code and l2.industry_level = 2

)

select * from named
