-- The margin-eligible lists of the three exchanges, one row per trading day and security
-- on a list. SZSE and BSE publish their lists (标的证券信息); SSE publishes none that
-- akshare reads, so an SSE security counts as eligible on both sides on the days it is in
-- SSE's margin detail (融资融券明细 lists the 标的证券), with nothing known about whether
-- a side may be opened that day: `eligibility_source` says which.

with

szse as (

    select * from {{ ref('stg_akshare__margin_eligibility_szse') }}

),

bse as (

    select * from {{ ref('stg_akshare__margin_eligibility_bse') }}

),

sse_detail as (

    select trade_date, exchange, security_code, security_name,
    from {{ ref('stg_akshare__margin_detail_sse') }}

),

published as (

    select
        trade_date, exchange, security_code, security_name, is_financing_eligible,
        is_short_eligible, can_finance_today, can_short_today,
        'exchange_list' as eligibility_source,
    from szse

    union all

    select
        trade_date, exchange, security_code, security_name, is_financing_eligible,
        is_short_eligible, can_finance_today, can_short_today,
        'exchange_list' as eligibility_source,
    from bse

),

derived_sse as (

    select
        trade_date, exchange, security_code, security_name,
        true as is_financing_eligible,
        true as is_short_eligible,
        cast(null as boolean) as can_finance_today,
        cast(null as boolean) as can_short_today,
        'sse_margin_detail' as eligibility_source,
    from sse_detail

),

final as (

    select * from published
    union all
    select * from derived_sse

)

select * from final
