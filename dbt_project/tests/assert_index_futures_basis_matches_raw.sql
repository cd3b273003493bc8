-- fct_index_futures_basis against values recomputed from the raw frames: basis against
-- the spot index close, expiry found by listing the days of the contract month (third
-- Friday = the third day with ISO weekday 5, moved to the next day of the raw trading
-- calendar), and the main contract as the largest open interest.

{{ config(meta={'dagster': {'ref': {'name': 'fct_index_futures_basis'}}}) }}

with

futures as (

    select
        trade_date,
        upper(trim(symbol)) as contract,
        upper(regexp_extract(trim(symbol), '^[A-Za-z]+')) as variety,
        close,
        open_interest,
        volume,
    from {{ source('raw', 'futures_hist_daily_cffex') }}
    where upper(regexp_extract(trim(symbol), '^[A-Za-z]+')) in ('IF', 'IH', 'IC', 'IM')

),

spot as (

    select
        date as trade_date,
        case symbol
            when 'sh000300' then 'IF'
            when 'sh000016' then 'IH'
            when 'sh000905' then 'IC'
            when 'sh000852' then 'IM'
        end as variety,
        close as spot_close,
    from {{ source('raw', 'stock_zh_index_daily') }}

),

month_days as (

    select
        contracts.contract,
        cast(day as date) as day,
    from (select distinct contract from futures) as contracts
    cross join generate_series(
        strptime('20' || right(contracts.contract, 4) || '01', '%Y%m%d'),
        strptime('20' || right(contracts.contract, 4) || '01', '%Y%m%d') + interval 27 day,
        interval 1 day
    ) as days(day)

),

third_fridays as (

    select contract, day as third_friday,
    from month_days
    where isodow(day) = 5
    qualify row_number() over (partition by contract order by day) = 3

),

expiries as (

    select
        third_fridays.contract,
        coalesce(
            (
                select min(calendar.trade_date)
                from {{ source('raw', 'tool_trade_date_hist_sina') }} as calendar
                where calendar.trade_date >= third_fridays.third_friday
            ),
            third_fridays.third_friday
        ) as expiry_date,
    from third_fridays

),

expected as (

    select
        futures.trade_date,
        futures.contract,
        futures.close - spot.spot_close as basis_points,
        expiries.expiry_date - futures.trade_date as days_to_expiry,
        futures.open_interest = max(futures.open_interest) over (
            partition by futures.trade_date, futures.variety
        ) as has_max_open_interest,
    from futures
    left join spot using (trade_date, variety)
    left join expiries using (contract)

),

mart as (

    select * from {{ ref('fct_index_futures_basis') }}

)

select
    mart.trade_date,
    mart.contract,
    mart.basis_points,
    expected.basis_points as expected_basis_points,
    mart.days_to_expiry,
    expected.days_to_expiry as expected_days_to_expiry,
    mart.is_main_contract,
    expected.has_max_open_interest,
from mart
left join expected
    on mart.trade_date = expected.trade_date
    and mart.contract = expected.contract
where expected.contract is null
    or abs(mart.basis_points - expected.basis_points) > 1e-9
    or (mart.basis_points is null) <> (expected.basis_points is null)
    or mart.days_to_expiry <> expected.days_to_expiry
    or (mart.is_main_contract and not expected.has_max_open_interest)
