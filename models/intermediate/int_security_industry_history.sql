-- Point-in-time Shenwan 2021 industry per security: one row per security and
-- classification interval [valid_from, valid_to). A day's industry is the row with
-- the latest start date on or before that day: the interval that contains the day.
-- Codes only: the marts join the names from stg_reference__sw2021_industries.

with

history as (

    select * from {{ ref('stg_akshare__sw_industry_history') }}

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

)

select * from intervals
